"""The Model APIs catalog: the recorded ``GET /v1/models`` body, scoped views, hostile strings.

The fixture ``fixtures/models_catalog.json`` holds the exact bytes of the recorded body (Warmup.yaml,
Aug 2026). Note: the recorded ``moonshotai/Kimi-K2.7-Code`` description already ends with five
private-use characters (U+E056 U+E03B U+E0FB U+E0F9 U+E11D, JSON-escaped in the body), so even the
real catalog carries strings a renderer must treat with care.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal
from importlib import resources
from typing import Any

from testkey_nb.emulator.scenarios import SCOPED_LLAMA_ID

# Emulator assumption: the real catalog has no meta-llama entry. This one is built in the shape of the
# recorded entries ($0.18/$0.18 per Mtok, 128k context) and served only to keys scoped to it.
SCOPED_LLAMA_ENTRY: dict[str, Any] = {
    "id": SCOPED_LLAMA_ID,
    "created": 1721692800,
    "object": "model",
    "owned_by": "baseten",
    "name": "Llama 3.1 8B Instruct",
    "description": "Small, fast general-purpose instruction-tuned LLM.",
    "context_length": 128000,
    "max_completion_tokens": 128000,
    "quantization": "fp8",
    "pricing": {"prompt": "0.00000018", "completion": "0.00000018", "image": "0", "request": "0",
                "input_cache_read": "0.00000018"},
    "supported_sampling_parameters": ["temperature", "stop", "top_p", "top_k"],
    "supported_features": ["tools", "json_mode"],
    "input_modalities": ["text"],
    "output_modalities": ["text"],
}

_ALL_CONTROL = "".join(chr(c) for c in range(0x20)) + "\x7f"


def _hostile_entry(model_id: str, name: str, description: str) -> dict[str, Any]:
    return {
        "id": model_id,
        "created": 1786700000,
        "object": "model",
        "owned_by": "baseten",
        "name": name,
        "description": description,
        "context_length": 131072,
        "max_completion_tokens": 131072,
        "quantization": "fp8",
        "pricing": {"prompt": "0.0000001", "completion": "0.0000002", "image": "0", "request": "0",
                    "input_cache_read": "0.0000001"},
        "supported_sampling_parameters": ["temperature", "stop"],
        "supported_features": ["tools", "<b>bold</b>"],
        "input_modalities": ["text"],
        "output_modalities": ["text"],
    }


# Strings that must come out of a report escaped and inert: markup, script-breakers, every C0 control
# character and DEL, bidi overrides and private-use code points.
HOSTILE_ENTRIES: tuple[dict[str, Any], ...] = (
    _hostile_entry(
        "<script>alert(1)</script>",
        "</script><img src=x onerror=alert(1)>",
        "\"><svg onload=alert(document.domain)> ' onmouseover='alert(1)' {{7*7}} ${7*7} javascript:alert(1)",
    ),
    _hostile_entry(
        "hostile/ctrl-\x00\x1b[31m-\x7f",
        "controls " + _ALL_CONTROL,
        "bidi \u202egnp.exe\u202c \u2066isolate\u2069 \u202dlro\u202c and private use \ue000\ue056\uf8ff",
    ),
    _hostile_entry(
        "hostile/\u202eevil\ue000",
        "<iframe src=\"javascript:alert(1)\"></iframe>\ue03b\uf8ff",
        "</style></textarea><!-- -->]]><x onerror=alert(1)> & &amp; &lt;script&gt;",
    ),
)

HOSTILE_NAME = "</script><img src=x onerror=alert(1)>\u202e\ue000"


@dataclass(frozen=True)
class Catalog:
    """The recorded catalog, loaded once per emulator (no module-level cache)."""

    raw: bytes
    entries: tuple[dict[str, Any], ...]
    headers: dict[str, Any]

    @classmethod
    def load(cls) -> Catalog:
        root = resources.files("testkey_nb.emulator").joinpath("fixtures")
        raw = root.joinpath("models_catalog.json").read_bytes()
        headers = json.loads(root.joinpath("recorded_headers.json").read_text("utf-8"))
        return cls(raw=raw, entries=tuple(json.loads(raw)["data"]), headers=headers)

    @property
    def ids(self) -> tuple[str, ...]:
        return tuple(e["id"] for e in self.entries)

    def without(self, model_id: str) -> Catalog:
        """This catalog without one model (the provider withdrew it): not listed, not routed."""
        if model_id not in self.ids:
            raise ValueError(f"the catalog has no model {model_id!r}")
        entries = tuple(e for e in self.entries if e["id"] != model_id)
        raw = json.dumps({"data": list(entries)}, ensure_ascii=False).encode("utf-8")
        return Catalog(raw=raw, entries=entries, headers=self.headers)

    def entry(self, model_id: str) -> dict[str, Any] | None:
        if model_id == SCOPED_LLAMA_ID:
            return SCOPED_LLAMA_ENTRY
        return next((e for e in self.entries if e["id"] == model_id), None)

    def visible_entries(self, scope: tuple[str, ...] | None) -> list[dict[str, Any]]:
        """Catalog entries a key may see: all, or only its scope (scoped inference-only keys)."""
        if scope is None:
            return [dict(e) for e in self.entries]
        return [dict(entry) for m in scope if (entry := self.entry(m)) is not None]

    def body(self, scope: tuple[str, ...] | None, *, hostile: bool) -> bytes:
        """The ``{"data": [...]}`` body; byte-identical to the recording for an unscoped key."""
        base = self.raw if scope is None else json.dumps({"data": self.visible_entries(scope)}).encode()
        if not hostile:
            return base
        extra = ", ".join(json.dumps(e, ensure_ascii=False) for e in HOSTILE_ENTRIES).encode("utf-8")
        head = base[: base.rindex(b"]")].rstrip()
        sep = b"" if head.endswith(b"[") else b", "
        return head + sep + extra + b"]}"

    def items(self, scope: tuple[str, ...] | None, *, hostile: bool) -> list[dict[str, Any]]:
        items = self.visible_entries(scope)
        if hostile:
            items.extend(dict(e) for e in HOSTILE_ENTRIES)
        return items


def per_million(per_token: str) -> str:
    """USD per token (catalog string) -> USD per million tokens as a string, e.g. "0.10"."""
    value = (Decimal(per_token) * 1_000_000).normalize()
    text = format(value, "f")
    whole, _, frac = text.partition(".")
    return f"{whole}.{frac.ljust(2, '0')}"


_FAMILIES = {
    "openai": "OPENAI",
    "zai-org": "GLM",
    "moonshotai": "KIMI",
    "deepseek-ai": "DEEPSEEK",
    "nvidia": "NVIDIA",
    "thinkingmachines": "THINKING_MACHINES",
    "meta-llama": "META",
}


def model_api_slug(model_id: str) -> str:
    """Catalog id -> ModelAPIV1.name slug (assumption: lower-case, '.'/'_' -> '-', org dropped)."""
    tail = model_id.rsplit("/", 1)[-1]
    return "".join(c if c.isalnum() or c == "-" else "-" for c in tail.lower())


def model_family(model_id: str) -> str | None:
    return _FAMILIES.get(model_id.split("/", 1)[0])


def release_date(created: int) -> str:
    return datetime.fromtimestamp(created, UTC).date().isoformat()


def iso(dt: datetime) -> str:
    return dt.astimezone(UTC).replace(microsecond=0).isoformat().replace("+00:00", "Z")


def model_api_item(
    entry: dict[str, Any],
    *,
    invoke_url: str,
    rpm: int,
    tpm: int,
    used: tuple[date, date] | None,
) -> dict[str, Any]:
    """ModelAPIV1 from a catalog entry; ``used`` = (first, last) day of workspace usage, if any."""
    pricing = entry["pricing"]
    org_details = None
    if used is not None:
        org_details = {
            "added_at": iso(datetime.combine(used[0], datetime.min.time(), UTC).replace(hour=8)),
            "last_used_at": iso(datetime.combine(used[1], datetime.min.time(), UTC).replace(hour=12)),
        }
    return {
        "name": model_api_slug(entry["id"]),
        "display_name": entry["name"],
        "description": entry["description"],
        "model_family": model_family(entry["id"]),
        "release_date": release_date(entry["created"]),
        "invoke_url": invoke_url,
        "context_length": entry["context_length"],
        "cost_per_million_input_tokens": per_million(pricing["prompt"]),
        "cost_per_million_output_tokens": per_million(pricing["completion"]),
        "rate_limits": [
            {"type": "REQUEST", "unit": "MINUTE", "threshold": rpm},
            {"type": "TOKEN", "unit": "MINUTE", "threshold": tpm},
        ],
        "org_details": org_details,
    }
