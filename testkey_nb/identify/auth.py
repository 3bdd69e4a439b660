"""How a provider takes the key: header templates (``[auth]`` in its ``provider.toml``), and the other bases of
the same host that take it another way (``[[auth.bases]]``: Gemini's native ``x-goog-api-key`` beside the Bearer of
its OpenAI-compatible base). Re-exported by :mod:`testkey_nb.identify.schema`. Nothing here names a provider.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from urllib.parse import urlsplit

__all__ = ["BEARER", "AuthBase", "AuthSpec", "AuthTemplate"]


@dataclass(frozen=True)
class AuthTemplate:
    """One way to present the key: header name -> value template (``{key}`` stands for the key).

    ``label`` names the scheme without the key (``Authorization: Bearer``, ``x-api-key``).
    """

    label: str
    headers: Mapping[str, str]

    def render(self, key: str) -> dict[str, str]:
        return {name: value.replace("{key}", key) for name, value in self.headers.items()}


BEARER = AuthTemplate("Authorization: Bearer", {"Authorization": "Bearer {key}"})


def _templates(header: str, schemes: Iterable[str], extra: Mapping[str, str]) -> tuple[AuthTemplate, ...]:
    """Schemes as header templates; ``raw`` sends the bare key in ``header`` (Anthropic's ``x-api-key``)."""
    out = []
    for scheme in schemes:
        raw = scheme.lower() == "raw"
        value = "{key}" if raw else f"{scheme} {{key}}"
        label = header if raw else f"{header}: {scheme}"
        out.append(AuthTemplate(label, {header: value, **extra}))
    return tuple(out)


@dataclass(frozen=True)
class AuthBase:
    """Another scheme the same host takes on another base (issue 19 #14): a base URL whose path matches
    ``path`` (a regex, searched) gets ``header``/``schemes`` instead of the provider's default ``[auth]``
    (Gemini's native ``/v1beta`` wants ``x-goog-api-key``; its ``/v1beta/openai`` base, ``Bearer``)."""

    path: str
    header: str
    schemes: tuple[str, ...] = ("raw",)
    note: str | None = None
    source: str | None = None


@dataclass(frozen=True)
class AuthSpec:
    header: str
    schemes: tuple[str, ...]
    env_var: str | None = None
    note: str | None = None
    #: headers every request carries besides the key (e.g. ``anthropic-version``)
    extra_headers: Mapping[str, str] = field(default_factory=dict)
    source: str | None = None
    #: other bases of the same host and their schemes (``[[auth.bases]]``)
    bases: tuple[AuthBase, ...] = ()

    def templates(self, base_url: str | None = None) -> tuple[AuthTemplate, ...]:
        """The accepted schemes as header templates, in the data's order of preference: those of the
        ``[[auth.bases]]`` entry whose path the base URL's path matches, else the default ``[auth]``.

        A scheme ``raw`` sends the bare key in ``header`` (Anthropic's ``x-api-key``)."""
        if base_url:
            path = urlsplit(base_url).path.rstrip("/")
            for b in self.bases:
                if re.search(b.path, path):
                    return _templates(b.header, b.schemes, self.extra_headers)
        return _templates(self.header, self.schemes, self.extra_headers)
