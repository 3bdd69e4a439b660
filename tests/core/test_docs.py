"""The README and the docs site: short, links that resolve, a layout map that matches the tree, and no
text naming a file outside the repository (issue 20)."""

from __future__ import annotations

import re
import unicodedata
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
README = ROOT / "README.md"
DOCS = ROOT / "docs"

#: [text](target) and ![alt](target); the target stops at white space or the closing parenthesis
LINK = re.compile(r"!?\[[^\]]*\]\(([^)\s]+)(?:\s+\"[^\"]*\")?\)")
FENCE = re.compile(r"^(```|~~~)")


def _prose(text: str) -> str:
    """The text outside fenced code blocks and inline code (links there are examples, not links)."""
    out, fenced = [], False
    for line in text.splitlines():
        if FENCE.match(line.strip()):
            fenced = not fenced
            continue
        if not fenced:
            out.append(re.sub(r"`[^`]*`", "``", line))
    return "\n".join(out)


def _links(path: Path) -> list[str]:
    return LINK.findall(_prose(path.read_text(encoding="utf-8")))


def _slug(heading: str) -> str:
    """Python-Markdown's toc slug (what mkdocs makes anchors from)."""
    text = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", heading)  # a link keeps its text
    text = text.replace("`", "").replace("*", "")
    text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode("ascii")
    text = re.sub(r"[^\w\s-]", "", text).strip().lower()
    return re.sub(r"[-\s]+", "-", text)


def _anchors(path: Path) -> set[str]:
    anchors: set[str] = set()
    fenced = False
    for line in path.read_text(encoding="utf-8").splitlines():
        if FENCE.match(line.strip()):
            fenced = not fenced
        elif not fenced and (m := re.match(r"#{1,6}\s+(.*?)\s*#*\s*$", line)):
            anchors.add(_slug(m.group(1)))
    return anchors


def _pages() -> list[Path]:
    return [README, *sorted(DOCS.glob("**/*.md"))]


def _broken(page: Path, root: Path = ROOT) -> list[str]:
    broken = []
    for target in _links(page):
        if re.match(r"^[a-z][a-z0-9+.-]*:", target):  # https:, mailto:, data: ...
            continue
        path_part, _, fragment = target.partition("#")
        dest = (page.parent / path_part).resolve() if path_part else page
        if not dest.exists():
            broken.append(f"{target}: no such file")
        elif not dest.is_relative_to(root):
            broken.append(f"{target}: outside the repository")
        elif fragment and dest.suffix == ".md" and fragment not in _anchors(dest):
            broken.append(f"{target}: no heading #{fragment} in {dest.relative_to(root)}")
    return broken


def test_readme_is_at_most_200_lines() -> None:
    lines = README.read_text(encoding="utf-8").splitlines()
    assert len(lines) <= 200, len(lines)


def test_readme_gives_the_two_set_up_commands() -> None:
    text = README.read_text(encoding="utf-8")
    assert "make demo" in text
    assert "make test" in text


@pytest.mark.parametrize("page", _pages(), ids=lambda p: str(p.relative_to(ROOT)))
def test_every_relative_link_resolves(page: Path) -> None:
    assert _broken(page) == []


def test_the_link_check_can_fail(tmp_path: Path) -> None:
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "other.md").write_text("# A heading\n\ntext\n", encoding="utf-8")
    (tmp_path / "outside.md").write_text("# Outside\n", encoding="utf-8")
    page = tmp_path / "docs" / "page.md"
    page.write_text(
        "[ok](other.md#a-heading) [web](https://example.org/x) `[code](nope.md)` [self](#nowhere)\n"
        "[missing](nope.md) [anchor](other.md#no-such) ![img](pic.png) [up](../outside.md)\n",
        encoding="utf-8",
    )
    assert _broken(page, root=tmp_path / "docs") == [
        "#nowhere: no heading #nowhere in page.md",
        "nope.md: no such file",
        "other.md#no-such: no heading #no-such in other.md",
        "pic.png: no such file",
        "../outside.md: outside the repository",
    ]


def test_slugs_follow_mkdocs() -> None:
    assert _slug("`testkey-nb probe`") == "testkey-nb-probe"
    assert _slug("The JSON (`--json`)") == "the-json-json"
    assert _slug("Honest evidence: every figure points at a request that was made") == (
        "honest-evidence-every-figure-points-at-a-request-that-was-made"
    )


def _layout_paths() -> list[str]:
    """The paths of the README's layout map: top-level entries, and entries indented under them."""
    text = README.read_text(encoding="utf-8")
    section = text.split("## Layout", 1)[1]
    block = section.split("```", 2)[1]
    paths, parent = [], ""
    for line in block.splitlines()[1:]:
        if not line.strip():
            continue
        indent = len(line) - len(line.lstrip(" "))
        name = line.split()[0]
        if indent == 0:
            parent = name if name.endswith("/") else ""
            paths.append(name)
        elif indent == 2 and parent:
            paths.append(parent + name)
    return paths


def test_the_layout_map_matches_the_tree() -> None:
    paths = _layout_paths()
    assert "testkey_nb/" in paths and "testkey_nb/check/" in paths, paths
    missing = [p for p in paths if not (ROOT / p).exists() or (p.endswith("/") and not (ROOT / p).is_dir())]
    assert missing == []


def test_every_package_folder_is_on_the_map() -> None:
    on_map = {p.rstrip("/") for p in _layout_paths()}
    folders = {
        f"testkey_nb/{d.name}"
        for d in (ROOT / "testkey_nb").iterdir()
        if d.is_dir() and (d / "__init__.py").exists()
    }
    assert folders - on_map == set()


#: a file outside the repository: the project's shared folder, or its reference files by name
OUTSIDE = re.compile(r"\.\./shared|shared/reference|(?<![\w/.-])reference/[\w.-]+\.(?:md|txt|json)\b")


def _user_facing_files() -> list[Path]:
    notebooks = (ROOT / "testkey_nb" / "notebooks").glob("**/*.ipynb")
    files = [README, ROOT / "mkdocs.yml", *DOCS.glob("**/*.md"), *notebooks]
    for pattern in ("*.py", "*.toml", "*.yaml", "*.json", "*.csv", "*.ipynb"):
        files.extend((ROOT / "testkey_nb").glob(f"**/{pattern}"))
    return sorted(set(files))


def test_no_text_names_a_file_outside_the_repository() -> None:
    hits = []
    for path in _user_facing_files():
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            if OUTSIDE.search(line):
                hits.append(f"{path.relative_to(ROOT)}:{number}: {line.strip()[:120]}")
    assert hits == []


def test_the_outside_pattern_can_fail() -> None:
    assert OUTSIDE.search("see ../shared/DESIGN.md")
    assert OUTSIDE.search('source = "reference/baseten-api-facts.md §5"')
    assert OUTSIDE.search("under `shared/reference/`")
    assert not OUTSIDE.search("https://platform.openai.com/docs/api-reference/models/list")
    assert not OUTSIDE.search("https://huggingface.co/docs/huggingface_hub/package_reference/hf_api")



def _readme_providers(text: str) -> dict[str, set[str]]:
    """The README's provider table: id -> the routes its row names."""
    rows = re.findall(r"^\| [^|]*\(`([a-z]+)`\) \| ([^|]+) \|", text, re.MULTILINE)
    return {pid: {r.strip() for r in routes.split(",")} for pid, routes in rows if routes.strip() != "route"}


def test_the_readme_lists_every_provider_with_its_routes() -> None:
    """Every provider folder has a row (issue 19), and the routes the row names are the routes its
    ``[[hosts]]`` declare (global when it declares none; Azure's hosts are the user's own resource)."""
    from testkey_nb.identify.loader import load_registry

    registry = load_registry()
    listed = _readme_providers(README.read_text(encoding="utf-8"))
    assert sorted(listed) == sorted(pid for pid in registry.ids() if pid != "unknown")
    for pid, routes in listed.items():
        declared = {h.route for h in registry.get(pid).outcomes.hosts} or {"global"}
        assert routes == ({"your resource"} if pid == "azure" else declared), pid


def test_the_provider_table_reader_can_fail() -> None:
    text = ("| provider (`id`) | route | what |\n| Moonshot (`moonshot`) | global | balance |\n"
            "| Ark (`ark`) | china, global | ids |\n")
    assert _readme_providers(text) == {"moonshot": {"global"}, "ark": {"china", "global"}}
    assert _readme_providers("| Moonshot | global | balance |\n") == {}
