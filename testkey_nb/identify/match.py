"""Matching: whether one answer satisfies one fingerprint (pure predicates, bounded work per answer).

`identify.score` asks these questions of every answer; the weights and the decision live there.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace
from typing import Any

from testkey_nb.identify.evidence import HttpEvidence
from testkey_nb.identify.schema import Condition, Fingerprint

__all__ = [
    "all_hold",
    "catalog_items",
    "header_matches",
    "is_catalog",
    "is_html",
    "models_matches",
    "models_shape",
    "normalise_headers",
]

_MISSING = object()


def models_shape(body: object) -> str:
    """Top-level shape of a /models body (see providers.MODELS_SHAPES)."""
    if isinstance(body, list):
        return "bare-array"
    if isinstance(body, Mapping) and isinstance(body.get("data"), list):
        if "has_more" in body or "first_id" in body or "last_id" in body:
            return "anthropic-paged"
        if body.get("object") == "list":
            return "object-list"
        return "object-with-data-no-object-list"
    return "other"


def catalog_items(body: object, limit: int) -> list[Mapping[str, Any]]:
    data: object = body
    if isinstance(body, Mapping):
        data = body.get("data")
    if not isinstance(data, list):
        return []
    return [i for i in data[:limit] if isinstance(i, Mapping)]


def is_catalog(ex: HttpEvidence) -> bool:
    path = ex.url_path.split("?", 1)[0].rstrip("/") if isinstance(ex.url_path, str) else ""
    return ex.probe == "catalog" or path.endswith("/models")


def models_matches(fp: Fingerprint, shape: str, items: Sequence[Mapping[str, Any]], max_chars: int) -> bool:
    if fp.shapes and shape not in fp.shapes:
        return False
    if not fp.item:
        return True
    if not items:
        return False
    hits = sum(1 for it in items if all_hold(fp.item, it, max_chars))
    return hits / len(items) >= fp.min_fraction


def all_hold(conditions: Sequence[Condition], obj: object, max_chars: int) -> bool:
    return all(holds(c, obj, max_chars) for c in conditions)


def holds(cond: Condition, obj: object, max_chars: int) -> bool:
    at = next((i for i, part in enumerate(cond.path) if part.endswith("[]")), None)
    if at is not None:  # ``details[].quotaId``: the condition holds for some item of the list
        items = lookup(obj, (*cond.path[:at], cond.path[at][:-2]))
        rest = replace(cond, path=cond.path[at + 1 :])
        return isinstance(items, list) and any(holds(rest, item, max_chars) for item in items[:64])
    value = lookup(obj, cond.path)
    if cond.op == "absent":
        return value is _MISSING
    if value is _MISSING:
        return False
    if cond.op == "present":
        return True
    if cond.op == "equals":
        return json_equal(value, cond.value)
    if cond.op == "one_of":
        return any(json_equal(value, v) for v in cond.value)
    if cond.op == "regex":
        return (
            isinstance(value, str)
            and cond.pattern is not None
            and bool(cond.pattern.search(value[:max_chars]))
        )
    return bool(json_type(value) == cond.value)


def lookup(obj: object, path: Sequence[str]) -> object:
    cur = obj
    for part in path:
        if not isinstance(cur, Mapping):
            return _MISSING
        try:
            cur = cur.get(part, _MISSING)
        except TypeError:  # unhashable / odd keys in a hostile mapping
            return _MISSING
        if cur is _MISSING:
            return _MISSING
    return cur


def json_equal(value: object, expected: object) -> bool:
    if isinstance(value, bool) or isinstance(expected, bool):
        return isinstance(value, bool) and isinstance(expected, bool) and value == expected
    if isinstance(expected, int | float):
        return isinstance(value, int | float) and value == expected
    return isinstance(value, str) and value == expected


def json_type(value: object) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "integer" if value.is_integer() else "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, Mapping):
        return "object"
    if isinstance(value, list | tuple):
        return "array"
    return "other"


def normalise_headers(headers: object, max_chars: int) -> dict[str, str]:
    out: dict[str, str] = {}
    if not isinstance(headers, Mapping):
        return out
    for name, value in headers.items():
        if not isinstance(name, str):
            continue
        text = value if isinstance(value, str) else str(value)
        key = name.strip().lower()
        out[key] = f"{out[key]}, {text}"[:max_chars] if key in out else text[:max_chars]
    return out


def header_matches(fp: Fingerprint, headers: Mapping[str, str]) -> bool:
    if fp.header is not None:
        candidates = [headers[fp.header]] if fp.header in headers else []
    else:
        prefix = fp.header_prefix or ""
        candidates = [v for k, v in headers.items() if k.startswith(prefix)]
    if fp.value is None:
        return bool(candidates)
    return any(fp.value.search(v) for v in candidates)


def is_html(ex: HttpEvidence, headers: Mapping[str, str]) -> bool:
    if "html" in headers.get("content-type", "").lower():
        return True
    snippet = ex.text_snippet
    return ex.json_body is None and isinstance(snippet, str) and snippet.lstrip()[:1] == "<"
