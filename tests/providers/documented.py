"""Serve a provider's documented answers (``tests/providers/<id>/answers.yaml``) through httpx.MockTransport.

The transport plays the provider the way the answers say: which key (by mode) in which scheme gets which
answer, on that host's own paths. It never touches the network.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import yaml

HERE = Path(__file__).parent
PROVIDERS = sorted(p.name for p in HERE.iterdir() if (p / "answers.yaml").is_file())


def key_for(provider: str, mode: str) -> str:
    return f"tk-{provider}-{mode}-0123456789abcdef"


@dataclass
class Documented:
    provider: str
    data: Mapping[str, Any]
    log: list[tuple[str, str, str, str]] = field(default_factory=list)  # (method, path, auth, mode)
    hosts: set[str] = field(default_factory=set)
    queries: list[tuple[str, str, str]] = field(default_factory=list)  # (method, path, query string)

    @classmethod
    def load(cls, provider: str) -> Documented:
        return cls(provider, yaml.safe_load((HERE / provider / "answers.yaml").read_text(encoding="utf-8")))

    @property
    def base_url(self) -> str:
        return str(self.data["base_url"])

    @property
    def modes(self) -> list[str]:
        return list(self.data["modes"])

    def _auth_for(self, path: str) -> Mapping[str, Any]:
        """The scheme the host wants on ``path``: its ``route_auth`` entry (Gemini's native /v1beta/models wants
        x-goog-api-key, or the key in ``?key=``), an ``auth_paths`` entry whose ``prefix`` the path starts with,
        else ``auth``."""
        exact = (self.data.get("route_auth") or {}).get(path)
        if exact:
            return dict(exact)
        for entry in self.data.get("auth_paths") or ():
            if path.startswith(str(entry["prefix"])):
                return dict(entry)
        return dict(self.data["auth"])

    def _who(self, request: httpx.Request) -> tuple[str, str]:
        """(auth, mode) of a request: how the key was presented, and whose key it is."""
        auth = self._auth_for(request.url.path)
        keys = {key_for(self.provider, m): m for m in self.modes}
        if auth.get("query") and request.url.params.get(auth["query"]) in keys:  # Gemini's ?key=
            return "key-in-query", keys[request.url.params[auth["query"]]]
        header = str(auth["header"]).lower()
        value = request.headers.get(header, "")
        scheme = auth.get("scheme")
        own = value.removeprefix(f"{scheme} ") if scheme else value
        if own in keys and (not scheme or value.startswith(f"{scheme} ")):
            extra = auth.get("extra") or {}
            if any(request.headers.get(k) != v for k, v in extra.items()):
                return "key-without-version", keys[own]
            return "key", keys[own]
        others = {str(a["header"]).lower() for a in [self.data["auth"], *(self.data.get("auth_paths") or ())]}
        others |= {str(a["header"]).lower() for a in (self.data.get("route_auth") or {}).values()}
        usual = ("authorization", "x-api-key", "api-key")
        for name in (*usual, *sorted(others - set(usual))):
            got = request.headers.get(name, "")
            for key, mode in keys.items():
                if key in got:
                    return "wrong-scheme", mode
        return "none", "none"

    def handler(self, request: httpx.Request) -> httpx.Response:
        auth, mode = self._who(request)
        path = request.url.path
        self.log.append((request.method, path, auth, mode))
        self.queries.append((request.method, path, str(request.url.query, "ascii")))
        self.hosts.add(request.url.host)
        same = [a for a in self.data["answers"] if a["request"]["method"] == request.method
                and a["request"]["path"] == path and self._on_host(a, request.url.host)
                and self._params_hold(a, request)]  # fmt: skip
        answer = (
            next((a for a in same if a["mode"] == mode and a["auth"] == auth), None)
            or next((a for a in same if a["auth"] == auth and auth != "key"), None)
            or (next((a for a in same if a["mode"] == "valid" and a["auth"] == "key"), None)
                if auth == "key" and mode != "bad-key" else None)
            # a bad key is refused the same way on every authenticated path
            or (next((a for a in self.data["answers"] if a["mode"] == "bad-key"), None)
                if auth == "key" and mode == "bad-key" and not any(a["auth"] == "none" and a["status"] == 200
                                                                   for a in same) else None)
            or next((a for a in same if a["auth"] == "none"), None)
        )
        if answer is None:
            return httpx.Response(404, json={"error": {"message": f"no documented answer for {request.method} {path}"}})
        headers = {"content-type": "application/json", **{k: str(v) for k, v in (answer.get("headers") or {}).items()}}
        body = answer.get("body")  # a string body under a non-JSON content-type is a text page (Perplexity's HTML 401)
        text = isinstance(body, str) and "json" not in headers["content-type"]
        content = body.encode() if text else json.dumps(body).encode()
        return httpx.Response(int(answer["status"]), headers=headers, content=content)

    @staticmethod
    def _params_hold(answer: Mapping[str, Any], request: httpx.Request) -> bool:
        """An answer whose request names ``params`` (Azure's classic ``api-version``) answers only a request
        carrying each of them with that value."""
        want = answer["request"].get("params") or {}
        return all(request.url.params.get(str(k)) == str(v) for k, v in want.items())

    def _on_host(self, answer: Mapping[str, Any], host: str) -> bool:
        """An answer given on one route's host only (``host: china``), or on every host (no ``host``)."""
        route = answer.get("host")
        if route is None:
            return not any(a.get("host") and self._hostname(a["host"]) == host and
                           a["request"] == answer["request"] and a["mode"] == answer["mode"]
                           for a in self.data["answers"])  # fmt: skip
        return self._hostname(route) == host

    def _hostname(self, route: str) -> str:
        from urllib.parse import urlsplit

        return urlsplit(str(self.data["hosts"][route])).hostname or ""

    def transport(self) -> httpx.MockTransport:
        return httpx.MockTransport(self.handler)
