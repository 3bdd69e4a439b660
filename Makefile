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
	$(BIN)/mkdocs build --strict --quiet
	$(BIN)/python -m pytest -q

lint: $(STAMP)
	$(BIN)/ruff check testkey_nb tests benchmarks

docs: $(STAMP)  # offline, strict: a broken link or anchor fails; the site goes to site/ (git-ignored)
	$(BIN)/mkdocs build --strict

lab: $(STAMP)  # in a checkout: Lab serves the package's notebooks, your workspace inside them (git-ignored)
	$(BIN)/testkey-nb lab --workspace testkey_nb/notebooks/work

bench: $(STAMP)  # about 15 minutes on a quiet 2-core machine, batch_bench.py alone about 8
	$(BIN)/python benchmarks/probe_bench.py
	$(BIN)/python benchmarks/import_bench.py
	$(BIN)/python benchmarks/billing_bench.py
	$(BIN)/python benchmarks/render_bench.py
	$(BIN)/python benchmarks/batch_bench.py --keys 50 --jobs 2 --naive-keys 5 --cold

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache build site *.egg-info
