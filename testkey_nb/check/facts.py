"""Provider-neutral facts: what a provider's answers say about a key, whoever the provider is.

Why this module is long: it is the one vocabulary every provider's ``interpret.py`` imports (facts, their
readers, the data-driven header reading); a split would give every interpreter two homes to import from.

A provider folder's ``interpret.py`` (``def interpret(observations, context) -> ProviderFacts``) turns
that provider's own answers into these; providers without one get :func:`header_facts`, read from the
``limit_headers`` / ``identity_headers`` data of their ``provider.toml``. ``check/profile.py`` only
combines facts and never names a provider.

JSON shapes (``probe --json``, ``KeyCheck.summary()``, the fleet index): ``identity`` is
``{user, workspace, organization, evidence, exchanges}``; ``balances`` is the list of every balance read,
each ``{scope, currency, remaining, limit, used, granted, provenance, probe, exchange}`` (``scope``:
``key`` a per-key limit, ``account`` the account's credits, ``workspace``); ``balance`` is the headline
(the most binding of them) or null; ``limits`` is a list of ``{scope, value, provenance, source, exchange}``.

Money is read, never assumed: a documented grant (a provider's free credits) is not a balance. A balance
the user gives (``--credits-remaining``) has provenance ``given`` and no exchange.

Every observed or derived fact names the **exchange** it rests on (:attr:`Observation.exchange`, unique
within a check). A provider's ``interpret.py`` may set it; :func:`cite_exchanges` fills it, for a fact
that names only a probe, from the answer of that probe the fact was read from (its first ``ok`` answer).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any, Literal

if TYPE_CHECKING:
    from testkey_nb.check.key_usage import KeyUsage
    from testkey_nb.identify.schema import CatalogFields, HeaderFact, ProviderSpec
    from testkey_nb.probe.observation import Observation

__all__ = [
    "BALANCE_SCOPES",
    "LIMIT_SCOPES",
    "Balance",
    "Fact",
    "Identity",
    "InterpretContext",
    "KeyAccess",
    "Limit",
    "ModelFacts",
    "Provenance",
    "ProviderFacts",
    "balances_of",
    "catalog_facts",
    "catalog_items",
    "cite_exchanges",
    "dig",
    "first_ok",
    "given_balance",
    "header_facts",
    "headline_balance",
    "number",
    "parse_reset_seconds",
    "readability",
    "sent",
]

Provenance = Literal["observed", "derived", "documented", "given", "unknown"]
BALANCE_SCOPES = ("key", "account", "workspace")
LIMIT_SCOPES = ("requests_per_minute", "tokens_per_minute", "requests_per_day", "tokens_per_day", "tokens_per_month")
#: the window of each scope in seconds (a calendar month has none: a value is never converted to it)
_SCOPE_SECONDS: Mapping[str, float] = {"requests_per_minute": 60.0, "tokens_per_minute": 60.0,
                                       "requests_per_day": 86400.0, "tokens_per_day": 86400.0}  # fmt: skip


@dataclass(frozen=True)
class Fact:
    """One value with its provenance and the probe it rests on (``None`` only when ``unknown``)."""

    value: Any
    provenance: Provenance
    probe: str | None
    note: str = ""
    exchange: str | None = None


@dataclass(frozen=True)
class Identity:
    """Who the key belongs to. ``evidence`` says where each field was read; ``probes`` names them."""

    user: str | None = None
    workspace: str | None = None
    organization: str | None = None
    evidence: str | None = None
    probes: tuple[str, ...] = ()
    #: the exchanges the fields were read from (one per probe in ``probes``)
    exchanges: tuple[str, ...] = ()

    @property
    def seen(self) -> bool:
        return any(v is not None for v in (self.user, self.workspace, self.organization))

    def as_json(self) -> dict[str, Any]:
        return {"user": self.user, "workspace": self.workspace, "organization": self.organization,
                "evidence": self.evidence, "exchanges": list(self.exchanges)}  # fmt: skip


@dataclass(frozen=True)
class Balance:
    """Money read from the provider (or given by the user), as plain numbers in ``currency``.

    ``scope``: ``key`` (a per-key spending limit), ``account`` (the account's credits) or ``workspace``;
    ``exchange``: the request it was read from (None only for a ``given`` balance)."""

    currency: str | None
    remaining: float | None
    granted: float | None
    used: float | None
    limit: float | None
    provenance: Provenance
    probe: str | None
    note: str = ""
    scope: str = "account"
    exchange: str | None = None

    def as_json(self) -> dict[str, Any]:
        return {"scope": self.scope, "currency": self.currency, "remaining": self.remaining, "limit": self.limit,
                "used": self.used, "granted": self.granted, "provenance": self.provenance, "probe": self.probe,
                "exchange": self.exchange}  # fmt: skip


@dataclass(frozen=True)
class Limit:
    """One rate limit. ``source`` is the probe it was read from (observed/derived) or the page that
    documents it (documented); ``model`` is None for a key- or workspace-wide limit."""

    scope: str
    value: float
    provenance: Provenance
    source: str
    probe: str | None = None
    model: str | None = None
    remaining: float | None = None
    reset_s: float | None = None
    note: str = ""
    exchange: str | None = None

    def as_json(self) -> dict[str, Any]:
        value: float | int = int(self.value) if float(self.value).is_integer() else self.value
        return {"scope": self.scope, "value": value, "provenance": self.provenance, "source": self.source,
                "exchange": self.exchange}  # fmt: skip


@dataclass(frozen=True)
class ModelFacts:
    """Per-model facts a provider's own endpoints give beyond the OpenAI-shaped catalog fields."""

    name: str | None = None
    context_length: int | None = None
    max_completion_tokens: int | None = None
    features: tuple[str, ...] = ()
    input_modalities: tuple[str, ...] = ()
    output_modalities: tuple[str, ...] = ()
    price_in_per_mtok: float | None = None
    price_out_per_mtok: float | None = None
    price_cached_in_per_mtok: float | None = None
    price_probe: str | None = None
    rpm: int | None = None
    tpm: int | None = None
    limits_probe: str | None = None
    probe: str = "catalog"
    price_exchange: str | None = None
    limits_exchange: str | None = None


@dataclass(frozen=True)
class KeyAccess:
    """What the provider's account data says about the key's model access.

    ``models`` None: the key is not model-scoped (every model); a tuple: only these."""

    models: tuple[str, ...] | None
    probe: str
    evidence: str
    exchange: str | None = None


@dataclass(frozen=True)
class ProviderFacts:
    identity: Identity | None = None
    #: a single balance (kept for interpreters that read one); :func:`balances_of` joins it to ``balances``
    balance: Balance | None = None
    limits: tuple[Limit, ...] = ()
    #: every balance read (key, account, workspace scopes; one per currency)
    balances: tuple[Balance, ...] = ()
    role: Fact | None = None
    scopes: Fact | None = None
    #: inference requests in the provider's usage window (``requests_total``)
    requests_total: Fact | None = None
    key_access: KeyAccess | None = None
    #: model id -> facts (context, features, prices, limits) from the provider's own answers
    models: Mapping[str, ModelFacts] = field(default_factory=dict)
    #: model id -> where the provider routed a chat for it (e.g. a deployment id from a header)
    routed_to: Mapping[str, str] = field(default_factory=dict)
    #: account fields the provider reported (shown as they are; the identity is the neutral view)
    account: Mapping[str, Any] = field(default_factory=dict)
    #: capability name -> extra evidence text (e.g. credits used when no balance endpoint exists)
    notes: Mapping[str, str] = field(default_factory=dict)
    #: bodies the billing view reads, and ``readable``: probe -> how readable it was
    raw: Mapping[str, Any] = field(default_factory=dict)
    #: what this key itself used (requests, tokens, cost per day and model), when the provider tells
    key_usage: KeyUsage | None = None


@dataclass(frozen=True)
class InterpretContext:
    provider: ProviderSpec | None
    key_prefix: str | None = None
    now: datetime | None = None
    #: the base URL the key was checked on (its declared host gives the route and the currency)
    base_url: str | None = None
    #: the route the user gave (``--route``), for a host the provider does not declare (a gateway, the emulator)
    given_route: str | None = None

    @property
    def route(self) -> str | None:
        """``global`` or ``china`` when the provider's data declares the host checked, else None."""
        declared = self.provider.outcomes.route_for(self.base_url) if self.provider and self.base_url else None
        return declared or self.given_route

    @property
    def currency(self) -> str | None:
        """The currency the provider's money fields are in: the checked host's (Moonshot: USD on .ai, CNY on
        .cn), else the provider's ``[money] currency``; None when the data names neither."""
        if self.provider is None:
            return None
        hosts = self.provider.outcomes
        host = hosts.host_for(self.base_url) if self.base_url else None
        if host is None and self.given_route:
            host = next((h for h in hosts.hosts if h.route == self.given_route and h.currency), None)
        return (host.currency if host else None) or hosts.money.currency

    def major(self, value: float | None, *, price: bool = False) -> float | None:
        """An API money figure in major units (``[money] balance_scale`` / ``price_scale``: Novita 1/10000 USD,
        Hyperbolic US cents)."""
        if value is None or self.provider is None:
            return value
        money = self.provider.outcomes.money
        return value / (money.price_scale if price else money.balance_scale)


# -- helpers a provider's interpret.py may use --------------------------------------------------------
def sent(observations: Sequence[Observation]) -> list[Observation]:
    """Observations of exchanges that really happened (a status came back)."""
    return [o for o in observations if o.status is not None and o.outcome not in ("skipped", "deadline")]


def readability(obs: Sequence[Observation]) -> str:
    """How readable a probe's endpoint was for this key: ``readable``, refused, not probed (and why)."""
    if not obs:
        return "not probed"
    if any(o.outcome == "ok" for o in obs):
        return "readable"
    first = obs[0]
    if first.outcome == "skipped":
        return f"not probed: {first.detail}"
    if first.outcome in ("refused", "unauthorized"):
        return f"refused ({first.status}) for this key"
    return f"not readable: {first.outcome}" + (f" ({first.detail})" if first.detail else "")


def first_ok(observations: Sequence[Observation], probe: str) -> Observation | None:
    return next((o for o in observations if o.probe == probe and o.outcome == "ok"), None)


def ok_object(observations: Sequence[Observation], probe: str) -> dict[str, Any]:
    """The JSON object the first answered ``probe`` sent back; ``{}`` when none was answered or the body is
    not an object."""
    obs = first_ok(observations, probe)
    return obs.json_body if obs is not None and isinstance(obs.json_body, dict) else {}


def catalog_items(observations: Sequence[Observation], probe: str = "catalog",
                  fields: CatalogFields | None = None) -> list[dict[str, Any]]:  # fmt: skip
    """The model items of an OpenAI-shaped (``{"data": [...]}``) or bare-array catalog answer, or where the
    provider's ``[catalog] items``/``id`` say (Cohere ``{models: [{name}]}``); each item carries its ``id``."""
    obs = first_ok(observations, probe)
    if obs is None:
        return []
    where, name = (fields.items, fields.id) if fields is not None else ("data", "id")
    body = obs.json_body
    items = body.get(where) if isinstance(body, dict) else body if isinstance(body, list) else None
    if name == "id":
        return [m for m in items or [] if isinstance(m, dict) and isinstance(m.get("id"), str)]
    return [{**m, "id": m[name]} for m in items or [] if isinstance(m, dict) and isinstance(m.get(name), str)]


def number(value: Any) -> float | None:
    """A plain number from a JSON number or numeric string (``"110.00"`` -> 110.0); else None."""
    if isinstance(value, bool) or value is None:
        return None
    try:
        out = float(value)
    except (TypeError, ValueError):
        return None
    return out if out == out and out not in (float("inf"), float("-inf")) else None


_DURATION = re.compile(r"(\d+(?:\.\d+)?)(ms|h|m|s)")
_UNIT_S = {"h": 3600.0, "m": 60.0, "s": 1.0, "ms": 0.001}


def parse_reset_seconds(value: str | None, now: datetime | None = None) -> float | None:
    """A rate-limit reset as seconds from now: a Go duration (``6m0s``, ``1s``, ``12ms``), an RFC 3339
    time, plain seconds, or a millisecond epoch."""
    if not value:
        return None
    text = value.strip()
    if re.fullmatch(r"(?:\d+(?:\.\d+)?(?:ms|h|m|s))+", text):
        return round(sum(float(n) * _UNIT_S[u] for n, u in _DURATION.findall(text)), 3)
    plain = number(text)
    if plain is not None:
        if plain > 1e12 and now is not None:  # a millisecond epoch
            return max(0.0, round(plain / 1000 - now.timestamp(), 3))
        return plain if plain <= 1e9 else None
    try:
        when = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    if now is None or when.tzinfo is None:
        return None
    return max(0.0, round((when - now).total_seconds(), 3))


def header_facts(observations: Sequence[Observation], context: InterpretContext) -> ProviderFacts:
    """Facts from the provider's data alone: rate limits and identity fields read from response headers
    (``limit_headers`` / ``identity_headers`` in ``provider.toml``), from the latest answer carrying them."""
    spec = context.provider
    if spec is None:
        return ProviderFacts()
    answered = sent(observations)
    limits = [lim for hf in spec.limit_headers if (lim := _header_limit(hf, answered, context)) is not None]
    fields: dict[str, str] = {}
    where: list[str] = []
    probes: list[str] = []
    exchanges: list[str] = []
    for hf in spec.identity_headers:
        obs = next((o for o in answered if o.headers.get(hf.header)), None)
        if obs is None or hf.target in fields:
            continue
        fields[hf.target] = str(obs.headers[hf.header])
        where.append(f"{hf.target} from header {hf.header} ({obs.probe})")
        probes.append(obs.probe)
        exchanges.extend([obs.exchange] if obs.exchange else [])
    identity = None
    if fields:
        identity = Identity(
            user=fields.get("user"),
            workspace=fields.get("workspace"),
            organization=fields.get("organization"),
            evidence="; ".join(where),
            probes=tuple(dict.fromkeys(probes)),
            exchanges=tuple(dict.fromkeys(exchanges)),
        )
    models = catalog_facts(observations, spec, context.base_url)
    return ProviderFacts(identity=identity, limits=tuple(_one_per_scope(limits)), models=models)


def _ietf_params(value: str | None) -> dict[str, float]:
    """The numeric parameters of an IETF draft RateLimit / RateLimit-Policy item (``"api";r=0;t=120``,
    ``"fixed window";"api";q=1000;w=300``): https://datatracker.ietf.org/doc/draft-ietf-httpapi-ratelimit-headers/"""
    out: dict[str, float] = {}
    for part in (value or "").split(";"):
        name, _, raw = part.strip().partition("=")
        n = number(raw) if raw else None
        if n is not None:
            out[name.strip().lower()] = n
    return out


def _header_limit(hf: HeaderFact, answered: Sequence[Observation], context: InterpretContext) -> Limit | None:
    """One ``[[limit_headers]]`` entry read from the latest answer carrying it; a value the provider documents
    over another window than the scope's is converted to the scope's and marked ``derived``."""
    ietf = hf.format == "ietf-ratelimit"
    for obs in reversed(answered):
        raw = obs.headers.get(hf.header)
        params = _ietf_params(raw) if ietf else {}
        value = params.get("q") if ietf else number(raw)
        if value is not None:
            break
    else:
        return None
    per = params.get("w") if ietf else hf.per_seconds
    per = per or hf.per_seconds
    if ietf:
        remaining = _ietf_params(obs.headers.get(hf.remaining_header)).get("r") if hf.remaining_header else None
        reset = _ietf_params(obs.headers.get(hf.reset_header)).get("t") if hf.reset_header else None
    else:
        remaining = number(obs.headers.get(hf.remaining_header)) if hf.remaining_header else None
        reset = parse_reset_seconds(obs.headers.get(hf.reset_header), context.now) if hf.reset_header else None
    where = f"{hf.header} on {obs.method} {obs.path} ({obs.status})"
    provenance: Provenance = "observed"
    window = _SCOPE_SECONDS.get(hf.target)
    if per is not None and window is not None and per != window:
        factor = window / per
        where += f": {value:g} per {per:g} s, times {factor:g} for the scope's {window:g} s window (derived)"
        value, provenance = value * factor, "derived"
        remaining = remaining * factor if remaining is not None else None
    note = where + (f"; documented at {hf.source}" if hf.source else "")
    return Limit(hf.target, value, provenance, obs.probe, obs.probe, None, remaining, reset, note, obs.exchange)


def dig(obj: Any, dotted: str | None) -> Any:
    """The value at a dotted path (``providers.0.context_length``); None when absent."""
    cur = obj
    for part in (dotted or "").split("."):
        if not part:
            continue
        if isinstance(cur, dict):
            cur = cur.get(part)
        elif isinstance(cur, list) and part.isdigit() and int(part) < len(cur):
            cur = cur[int(part)]
        else:
            return None
    return cur


def _names(value: Any) -> tuple[str, ...]:
    if isinstance(value, list):
        return tuple(str(v) for v in value if isinstance(v, (str, int, float)))
    if isinstance(value, dict):
        out = []
        for name, flag in value.items():
            on = flag.get("supported") if isinstance(flag, dict) else flag
            if on is True:
                out.append(str(name))
        return tuple(out)
    if isinstance(value, str) and value:
        return tuple(v.strip() for v in value.replace("+", ",").split(",") if v.strip())
    return ()


def _int(value: Any) -> int | None:
    n = number(value)
    return int(n) if n is not None and n >= 0 else None


def catalog_facts(observations: Sequence[Observation], spec: ProviderSpec,
                  base_url: str | None = None) -> dict[str, ModelFacts]:  # fmt: skip
    """Per-model facts from the provider's ``[catalog]`` field map for the base checked (where its /models items
    keep context, output cap, features, modalities and prices)."""
    fields = spec.catalog.for_base(base_url)
    if not any((fields.context_length, fields.max_completion_tokens, fields.features, fields.input_modalities,
                fields.output_modalities, fields.price_in, fields.price_out)):  # fmt: skip
        return {}
    # prices in major units per million tokens: [money] price_scale API units per major unit (Novita 1/10000 USD)
    scale = (1.0 if fields.price_per == "million" else 1_000_000.0) / spec.outcomes.money.price_scale
    out: dict[str, ModelFacts] = {}
    for item in catalog_items(observations, fields=fields):
        pin = number(dig(item, fields.price_in)) if fields.price_in else None
        pout = number(dig(item, fields.price_out)) if fields.price_out else None
        out[item["id"]] = ModelFacts(
            name=item.get("display_name") if isinstance(item.get("display_name"), str) else None,
            context_length=_int(dig(item, fields.context_length)) if fields.context_length else None,
            max_completion_tokens=_int(dig(item, fields.max_completion_tokens))
            if fields.max_completion_tokens else None,
            features=_names(dig(item, fields.features)) if fields.features else (),
            input_modalities=_names(dig(item, fields.input_modalities)) if fields.input_modalities else (),
            output_modalities=_names(dig(item, fields.output_modalities)) if fields.output_modalities else (),
            price_in_per_mtok=round(pin * scale, 6) if pin is not None and pin >= 0 else None,
            price_out_per_mtok=round(pout * scale, 6) if pout is not None and pout >= 0 else None,
            price_probe="catalog" if pin is not None or pout is not None else None,
        )  # fmt: skip
    return out


def _one_per_scope(limits: Sequence[Limit]) -> list[Limit]:
    seen: dict[tuple[str, str | None], Limit] = {}
    for lim in limits:
        seen.setdefault((lim.scope, lim.model), lim)
    return list(seen.values())


# -- money -------------------------------------------------------------------------------------------
def balances_of(facts: ProviderFacts) -> tuple[Balance, ...]:
    """Every balance the facts hold: ``balances``, and ``balance`` when an interpreter set only that."""
    out = list(facts.balances)
    if facts.balance is not None and facts.balance not in out:
        out.append(facts.balance)
    return tuple(out)


def headline_balance(balances: Sequence[Balance]) -> Balance | None:
    """The most binding balance: the one with the least money left (a key's limit binds before the
    account's credits). Across currencies nothing is compared: the narrowest scope read wins."""
    known = [b for b in balances if b.remaining is not None]
    if not known:
        return balances[0] if balances else None
    rank = {s: i for i, s in enumerate(BALANCE_SCOPES)}
    if len({b.currency for b in known}) == 1:
        return min(known, key=lambda b: (b.remaining, rank.get(b.scope, 9)))
    return min(known, key=lambda b: rank.get(b.scope, 9))


def given_balance(remaining: float, currency: str = "USD") -> Balance:
    """A balance the user gives (``--credits-remaining``): not read, so it cites no exchange."""
    return Balance(currency, float(remaining), None, None, None, "given", None,
                   "given by the user (--credits-remaining); not read from the provider", "workspace")  # fmt: skip


# -- citing exchanges --------------------------------------------------------------------------------
def cite_exchanges(facts: ProviderFacts, observations: Sequence[Observation]) -> ProviderFacts:
    """Fill the exchange of every fact that names only its probe: the answer of that probe it was read
    from (its first ``ok`` answer; for a fact of a probe that never answered ok, none: the evidence rule
    then reports it)."""
    from dataclasses import replace

    ok: dict[str, str] = {}
    for o in observations:
        if o.outcome == "ok" and o.exchange and o.probe not in ok:
            ok[o.probe] = o.exchange

    def ex(probe: str | None, have: str | None) -> str | None:
        return have or (ok.get(probe) if probe else None)

    def fact(f: Fact | None) -> Fact | None:
        return f if f is None or f.exchange or f.provenance not in ("observed", "derived") else (
            replace(f, exchange=ex(f.probe, None)))  # fmt: skip

    def bal(b: Balance) -> Balance:
        if b.exchange or b.provenance not in ("observed", "derived"):
            return b
        return replace(b, exchange=ex(b.probe, None))

    ident = facts.identity
    if ident is not None and ident.seen and not ident.exchanges:
        ident = replace(ident, exchanges=tuple(e for p in ident.probes if (e := ok.get(p))))
    limits = tuple(
        lim if lim.exchange or lim.provenance not in ("observed", "derived")
        else replace(lim, exchange=ex(lim.probe or lim.source, None))
        for lim in facts.limits
    )  # fmt: skip
    models = {
        mid: replace(mf, price_exchange=ex(mf.price_probe, mf.price_exchange),
                     limits_exchange=ex(mf.limits_probe, mf.limits_exchange))
        for mid, mf in facts.models.items()
    }  # fmt: skip
    access = facts.key_access
    if access is not None and not access.exchange:
        access = replace(access, exchange=ok.get(access.probe))
    return replace(
        facts,
        identity=ident,
        balance=bal(facts.balance) if facts.balance is not None else None,
        balances=tuple(bal(b) for b in facts.balances),
        limits=limits,
        role=fact(facts.role),
        scopes=fact(facts.scopes),
        requests_total=fact(facts.requests_total),
        key_access=access,
        models=models,
    )
