# Two commands on a fresh machine: `make demo` and `make test`.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: venv demo test lint docs lab bench clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev,cluster]'
	touch $(STAMP)

venv: $(STAMP)

demo: $(STAMP)
	$(BIN)/testkey-nb demo

test: $(STAMP)
	$(BIN)/ruff check testkey_nb tests benchmarks
	$(BIN)/mypy
	$(BIN)/mkdocs build --strict --quiet
	$(BIN)/python -m pytest -q

lint: $(STAMP)
	$(BIN)/ruff check testkey_nb tests benchmarks
	$(BIN)/mypy

docs: $(STAMP)  # offline, strict: a broken link or anchor fails; the site goes to site/ (git-ignored)
	$(BIN)/mkdocs build --strict

lab: $(STAMP)  # in a checkout: Lab serves the package's notebooks, your workspace inside them (git-ignored)
	$(BIN)/testkey-nb lab --workspace testkey_nb/notebooks/work

bench: $(STAMP)  # long: batch_bench.py renders 1,300 keys twice over and 1,000 on Dask (see docs/performance.md)
	$(BIN)/python benchmarks/probe_bench.py
	$(BIN)/python benchmarks/import_bench.py
	$(BIN)/python benchmarks/billing_bench.py
	$(BIN)/python benchmarks/render_bench.py
	$(BIN)/python benchmarks/batch_bench.py --keys 300,1000 --jobs 2

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache build site *.egg-info
