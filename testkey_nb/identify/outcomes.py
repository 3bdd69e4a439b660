"""Provider data the verdict reads beyond identification (issue 19): where each host routes, what an answer
means when its status does not say it, and what unit money is in.

- ``[[hosts]]``: a provider's hosts per region with their ``route`` (``global`` or ``china``) and, where the
  body has no currency field, the currency balances are in on that host (Moonshot).
- ``[[status_rules]]``: an answer (status + body conditions, or a pattern on a non-JSON body) that means one of
  ``STATUS_REASONS``: ``no_balance`` (money: top up), ``no_plan`` (a plan or subscription window used up or
  absent: it recovers by itself), ``geo_blocked`` (the route), ``waf`` (a firewall page), ``invalid`` (the
  provider's refusal of the key where its status does not say so, e.g. Gemini's 400 API_KEY_INVALID) or
  ``rate_limited``.
- ``[error_envelope]``: an HTTP 200 whose body is an error (MiniMax ``base_resp.status_code`` != 0).
- ``[money]``: the currency and the unit scale of the provider's money fields (Novita 1/10000 USD, Hyperbolic
  US cents) for balances and catalog prices.

Parsed and validated here, exposed on ``ProviderSpec.outcomes``; the behaviour that uses them lives in check/.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

if TYPE_CHECKING:
    from testkey_nb.identify.schema import Condition

ROUTES: tuple[str, ...] = ("global", "china")
STATUS_REASONS: tuple[str, ...] = ("no_balance", "no_plan", "geo_blocked", "waf", "invalid", "rate_limited")
#: what a ``[[no_quota]]`` rule may mean (money or a plan window)
NO_QUOTA_REASONS: tuple[str, ...] = ("no_balance", "no_plan")


@dataclass(frozen=True)
class Host:
    """One host of a provider: its base URL, its route and region, the currency its balances are in."""

    url: str
    route: str
    region: str = ""
    currency: str | None = None
    note: str = ""
    source: str = ""

    @property
    def hostname(self) -> str:
        return (urlsplit(self.url).hostname or "").lower()


@dataclass(frozen=True)
class StatusRule:
    """An answer that means ``reason``: the status is one of ``status`` (any when empty) and every body condition
    holds, or, for a non-JSON body (an HTML page, a bare string), ``text`` matches it."""

    reason: str
    status: tuple[int, ...] = ()
    body: tuple[Condition, ...] = ()
    text: re.Pattern[str] | None = None
    #: conditions on the answer's headers (lower-case names), e.g. SambaNova's x-ratelimit-remaining-requests-day 0
    headers: tuple[Condition, ...] = ()
    #: what the verdict may say besides the reason (when a plan window resets, which route to try)
    note: str = ""
    source: str = ""


@dataclass(frozen=True)
class ErrorEnvelope:
    """An HTTP 200 is an error when the value at ``path`` is not one of ``ok`` (on ``probes``, or every probe)."""

    path: tuple[str, ...]
    ok: tuple[Any, ...]
    message: tuple[str, ...] = ()
    probes: tuple[str, ...] = ()
    source: str = ""

    def says_error(self, probe: str, body: object) -> bool:
        """True when ``body`` (an HTTP 2xx's JSON) of ``probe``'s answer is this envelope saying "error": the
        value at ``path`` is there and none of ``ok`` (on ``probes`` only, when they are named)."""
        from testkey_nb.identify.match import _MISSING, lookup

        if self.probes and probe not in self.probes:
            return False
        value = lookup(body, self.path)
        return value is not _MISSING and not any(value == ok and type(value) is type(ok) for ok in self.ok)


@dataclass(frozen=True)
class Money:
    """The unit of a provider's money fields: ``balance_scale`` API units per major unit (Novita 10000,
    Hyperbolic 100), ``price_scale`` likewise for catalog prices; ``currency`` when the API never names it."""

    currency: str | None = None
    balance_scale: float = 1.0
    price_scale: float = 1.0
    source: str = ""


@dataclass(frozen=True)
class Outcomes:
    hosts: tuple[Host, ...] = ()
    status_rules: tuple[StatusRule, ...] = ()
    error_envelope: ErrorEnvelope | None = None
    money: Money = field(default_factory=Money)

    def host_for(self, url: str) -> Host | None:
        """The declared host a base URL is on (by hostname), if any."""
        name = (urlsplit(url).hostname or "").lower()
        return next((h for h in self.hosts if h.hostname == name), None)

    def route_for(self, url: str) -> str | None:
        host = self.host_for(url)
        return host.route if host else None

    def rules_for(self, reason: str) -> tuple[StatusRule, ...]:
        return tuple(r for r in self.status_rules if r.reason == reason)


ConditionParser = Callable[[Mapping[str, Any], str], "Condition"]


def parse_outcomes(data: Mapping[str, Any], where: str, condition: ConditionParser,
                   error: type[Exception]) -> Outcomes:  # fmt: skip
    """The issue-19 tables of one provider.toml (``condition`` parses a body condition; ``error`` is raised)."""
    hosts = tuple(_host(h, where, error) for h in data.get("hosts", []))
    if len({h.hostname for h in hosts}) != len(hosts):
        raise error(f"{where}: [[hosts]] names a hostname twice")
    rules = tuple(_rule(r, where, condition, error) for r in data.get("status_rules", []))
    env = data.get("error_envelope")
    money = data.get("money", {})
    _only(money, {"currency", "balance_scale", "price_scale", "source"}, f"{where}: [money]", error)
    scales = [money.get(k, 1) for k in ("balance_scale", "price_scale")]
    if any(isinstance(s, bool) or not isinstance(s, int | float) or s <= 0 for s in scales):
        raise error(f"{where}: [money] scales must be positive numbers")
    units = Money(currency=money.get("currency"), balance_scale=float(scales[0]), price_scale=float(scales[1]),
                  source=str(money.get("source", "")))  # fmt: skip
    envelope = _envelope(env, where, error) if env is not None else None
    return Outcomes(hosts=hosts, status_rules=rules, error_envelope=envelope, money=units)


def no_quota_reason(raw: Mapping[str, Any], where: str, error: type[Exception]) -> str:
    reason = str(raw.get("reason", "no_balance"))
    if reason not in NO_QUOTA_REASONS:
        raise error(f"{where}: [[no_quota]] reason must be one of {NO_QUOTA_REASONS}")
    return reason


def _only(raw: Mapping[str, Any], known: set[str], where: str, error: type[Exception]) -> None:
    unknown = set(raw) - known
    if unknown:
        raise error(f"{where}: unknown keys {sorted(unknown)}")


def _host(raw: Mapping[str, Any], where: str, error: type[Exception]) -> Host:
    _only(raw, {"url", "route", "region", "currency", "note", "source"}, f"{where}: [[hosts]]", error)
    url, route = raw.get("url"), raw.get("route")
    if not isinstance(url, str) or not urlsplit(url).hostname:
        raise error(f"{where}: [[hosts]] needs a url with a hostname")
    if route not in ROUTES:
        raise error(f"{where}: [[hosts]] {url}: route must be one of {ROUTES}")
    return Host(url=url, route=route, region=str(raw.get("region", "")), currency=raw.get("currency"),
                note=str(raw.get("note", "")), source=str(raw.get("source", "")))  # fmt: skip


def _rule(raw: Mapping[str, Any], where: str, condition: ConditionParser, error: type[Exception]) -> StatusRule:
    _only(raw, {"reason", "status", "body", "text", "headers", "note", "source"}, f"{where}: [[status_rules]]", error)
    reason = raw.get("reason")
    if reason not in STATUS_REASONS:
        raise error(f"{where}: [[status_rules]] reason must be one of {STATUS_REASONS}")
    body = tuple(condition(c, where) for c in raw.get("body", []))
    headers = tuple(condition({**c, "path": str(c.get("path", "")).lower()}, where) for c in raw.get("headers", []))
    text = raw.get("text")
    if not body and text is None and not headers:
        raise error(f"{where}: [[status_rules]] {reason}: give body conditions or a text pattern")
    try:
        pattern = re.compile(text) if isinstance(text, str) else None
    except re.error as exc:
        raise error(f"{where}: [[status_rules]] {reason}: bad text pattern: {exc}") from exc
    return StatusRule(reason=reason, status=tuple(int(s) for s in raw.get("status", ())), body=body, text=pattern,
                      headers=headers, note=str(raw.get("note", "")), source=str(raw.get("source", "")))  # fmt: skip


def _envelope(raw: Mapping[str, Any], where: str, error: type[Exception]) -> ErrorEnvelope:
    _only(raw, {"path", "ok", "message", "probes", "source"}, f"{where}: [error_envelope]", error)
    path, ok = raw.get("path"), raw.get("ok")
    if not isinstance(path, str) or not isinstance(ok, list) or not ok:
        raise error(f"{where}: [error_envelope] needs a path and a non-empty ok list")
    message = raw.get("message")
    return ErrorEnvelope(
        path=tuple(path.split(".")),
        ok=tuple(ok),
        message=tuple(message.split(".")) if isinstance(message, str) else (),
        probes=tuple(str(p) for p in raw.get("probes", ())),
        source=str(raw.get("source", "")),
    )
