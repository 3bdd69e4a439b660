"""Keep only the CSS a page can use: nbconvert's lab template inlines ~210 KB of JupyterLab CSS.

A rule stays when one of its selectors names only classes the page's markup carries (selectors
with no class, such as ``body`` or ``table``, always stay; classes inside ``:not(...)`` do not count
against a selector). ``@media`` blocks are pruned the same way, ``@keyframes`` stay only when an
animation names them, and custom properties (``--jp-*``) stay only when a kept rule uses them
through ``var()``. Parsing uses tinycss2 (nbconvert's own CSS dependency, through bleach); the parsed
stylesheet is cached per process, keyed by its text.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Final

import tinycss2

__all__ = ["prune_css", "used_classes"]

_CLASS_RE: Final = re.compile(r"\.(-?[_a-zA-Z][\w-]*)")
_NOT_RE: Final = re.compile(r":not\((?:[^()]|\([^()]*\))*\)")
_CLASS_ATTR_RE: Final = re.compile(r"""\sclass\s*=\s*(?:"([^"]*)"|'([^']*)')""", re.IGNORECASE)
_VAR_RE: Final = re.compile(r"var\(\s*(--[\w-]+)")
_ANIMATION_RE: Final = re.compile(r"animation(?:-name)?\s*:\s*([^;}]+)")


@dataclass(frozen=True)
class _Rule:
    selectors: tuple[tuple[str, frozenset[str]], ...]  # (selector text, classes it needs)
    body: str  # the declarations, serialized
    custom: tuple[tuple[str, str], ...]  # custom-property declarations (name, text)
    plain: str  # the other declarations, serialized (used when custom properties are dropped)


@dataclass(frozen=True)
class _Block:
    prelude: str  # "@media print" / "@keyframes spin"
    keyword: str
    rules: tuple[_Rule | _Block, ...]
    raw: str  # the whole at-rule, for blocks kept as they are (keyframes)


def used_classes(page: str) -> frozenset[str]:
    """Every class name in the page's ``class=`` attributes."""
    names: set[str] = set()
    for double, single in _CLASS_ATTR_RE.findall(page):
        names.update((double or single).split())
    return frozenset(names)


def _parse_rules(nodes: Iterable[Any]) -> tuple[_Rule | _Block, ...]:
    out: list[_Rule | _Block] = []
    for node in nodes:
        if node.type == "qualified-rule":
            prelude = tinycss2.serialize(node.prelude).strip()
            selectors = tuple(
                (sel.strip(), frozenset(_CLASS_RE.findall(_NOT_RE.sub("", sel)))) for sel in _split_selectors(prelude)
            )
            body = tinycss2.serialize(node.content).strip()
            custom: list[tuple[str, str]] = []
            plain: list[str] = []
            if "--" in body:
                for decl in tinycss2.parse_declaration_list(node.content, skip_whitespace=True, skip_comments=True):
                    if decl.type != "declaration":
                        continue
                    text = f"{decl.name}:{tinycss2.serialize(decl.value).strip()}"
                    if decl.important:
                        text += "!important"
                    if decl.name.startswith("--"):
                        custom.append((decl.name, text))
                    else:
                        plain.append(text)
            out.append(_Rule(selectors, body, tuple(custom), ";".join(plain)))
        elif node.type == "at-rule" and node.content is None:
            # @import, @charset, ...: kept as they are (the page's offline check judges them)
            out.append(_Block("", "", (), tinycss2.serialize([node])))
        elif node.type == "at-rule":
            keyword = node.lower_at_keyword
            prelude = f"@{node.at_keyword} {tinycss2.serialize(node.prelude).strip()}"
            inner: tuple[_Rule | _Block, ...] = ()
            if keyword in ("media", "supports"):
                inner = _parse_rules(tinycss2.parse_rule_list(node.content, skip_whitespace=True, skip_comments=True))
            out.append(_Block(prelude, keyword, inner, tinycss2.serialize([node])))
    return tuple(out)


def _split_selectors(prelude: str) -> list[str]:
    parts: list[str] = []
    depth = 0
    current: list[str] = []
    for char in prelude:
        if char in "([":
            depth += 1
        elif char in ")]":
            depth -= 1
        if char == "," and depth == 0:
            parts.append("".join(current))
            current = []
        else:
            current.append(char)
    parts.append("".join(current))
    return [p for p in parts if p.strip()]


@functools.lru_cache(maxsize=16)
def _parsed(css: str) -> tuple[_Rule | _Block, ...]:
    return _parse_rules(tinycss2.parse_stylesheet(css, skip_whitespace=True, skip_comments=True))


def _emit(rules: Iterable[_Rule | _Block], classes: frozenset[str], keep_vars: set[str] | None) -> list[str]:
    out: list[str] = []
    for rule in rules:
        if isinstance(rule, _Block):
            if rule.keyword in ("media", "supports"):
                inner = _emit(rule.rules, classes, keep_vars)
                if inner:
                    out.append(rule.prelude + "{" + "".join(inner) + "}")
            else:
                out.append(rule.raw)
            continue
        kept = [sel for sel, needs in rule.selectors if needs <= classes]
        if not kept:
            continue
        body = rule.body
        if rule.custom and keep_vars is not None:
            custom = [text for name, text in rule.custom if name in keep_vars]
            body = ";".join([p for p in (rule.plain, *custom) if p])
            if not body:
                continue
        out.append(",".join(kept) + "{" + body + "}")
    return out


def prune_css(sheets: list[str], classes: frozenset[str]) -> list[str]:
    """Each of a page's style sheets without the rules no element of a page with ``classes`` can match.

    The sheets are pruned together: a custom property defined in one (JupyterLab's theme) stays
    when a kept rule of any of them uses it.
    """
    parsed = [_parsed(css) for css in sheets]
    draft = "".join("".join(_emit(rules, classes, None)) for rules in parsed)
    # Custom properties: keep those used by var() in the kept rules, transitively.
    definitions: dict[str, str] = {}
    for rules in parsed:
        for rule in _walk(rules):
            for name, text in rule.custom:
                definitions[name] = definitions.get(name, "") + text
    keep: set[str] = set()
    frontier = set(_VAR_RE.findall(re.sub(r"--[\w-]+\s*:[^;}]*", "", draft)))
    while frontier:
        name = frontier.pop()
        if name in keep:
            continue
        keep.add(name)
        frontier.update(_VAR_RE.findall(definitions.get(name, "")))
    pruned = ["".join(_emit(rules, classes, keep)) for rules in parsed]
    # Keyframes nobody animates with go too.
    animations = {word for css in pruned for m in _ANIMATION_RE.findall(css) for word in re.findall(r"[\w-]+", m)}
    return [
        re.sub(
            r"@keyframes\s+([\w-]+)\s*\{(?:[^{}]|\{[^{}]*\})*\}",
            lambda m: m.group(0) if m.group(1) in animations else "",
            css,
        )
        for css in pruned
    ]


def _walk(rules: Iterable[_Rule | _Block]) -> Iterable[_Rule]:
    for rule in rules:
        if isinstance(rule, _Block):
            yield from _walk(rule.rules)
        else:
            yield rule
