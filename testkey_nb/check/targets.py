"""Which hosts the key may go to, and the one URL policy (the loopback/TLS rule).

The key goes only to hosts the user named (``base_url``, ``management_url``) or, when none is named,
to the official hosts of the claimed provider. Plain ``http://`` is allowed only to a loopback host
(``localhost``, 127.0.0.0/8, ``::1``) unless the user opts in: every other module that sends a key or
talks to a scheduler asks :func:`is_loopback` / :func:`check_url` here.
"""

from __future__ import annotations

import ipaddress
import math
from collections.abc import Mapping

import httpx

from testkey_nb.check.result import CheckError, CheckOptions
from testkey_nb.identify.outcomes import ROUTES
from testkey_nb.identify.schema import ProviderSpec, Registry
from testkey_nb.probe.plan import Targets
from testkey_nb.secrets import Secret, mask

__all__ = [
    "BASE_URL_ENV",
    "EMULATOR_KEYS_ENV",
    "MANAGEMENT_URL_ENV",
    "check_options",
    "check_url",
    "emulator_urls",
    "is_loopback",
    "resolve_targets",
    "route_of",
]

#: Set by ``testkey-nb lab --emulator``: the comma-separated NAMES of the variables that hold the
#: emulator's demo keys. Only those keys default to the emulator's URLs (below); a real key with an
#: empty ``base_url`` goes to its claimed provider's official hosts, never to the emulator.
EMULATOR_KEYS_ENV = "TESTKEY_NB_EMULATOR_KEYS"
#: The emulator's URLs, for the demo keys named in :data:`EMULATOR_KEYS_ENV`.
BASE_URL_ENV = "TESTKEY_NB_BASE_URL"
MANAGEMENT_URL_ENV = "TESTKEY_NB_MANAGEMENT_URL"


def _with_v1(url: str) -> str:
    url = url.rstrip("/")
    return url if url.endswith("/v1") else url + "/v1"


def resolve_targets(options: CheckOptions, registry: Registry, secret: Secret) -> tuple[Targets, str | None]:
    """Where the key may go: the hosts the user named, or the claimed provider's official hosts.

    Returns the targets and the claimed provider's id (None without a claim). The key's shape never
    chooses a host: with neither ``base_url`` nor ``claim`` there is nowhere to send it.
    """
    check_options(options)
    claim = _claimed_id(options.claim, registry)
    if options.route is not None and options.route not in ROUTES:
        raise CheckError(f"--route must be one of {', '.join(ROUTES)}, got {options.route!r}")
    if options.base_url:
        _route_agrees(options, registry, claim)
        check_url(options.base_url, "base_url", options.allow_http)
        reasons = {} if options.management_url else {"management": "no management URL"}
        if options.management_url:
            check_url(options.management_url, "management_url", options.allow_http)
        return Targets(options.base_url.rstrip("/"), _mgmt(options.management_url), reasons), claim
    if not claim:
        raise CheckError("no endpoint to probe: pass base_url=URL, or claim=PROVIDER to use its official hosts")
    spec = registry.get(claim)
    inference = spec.inference_base_url
    if options.route is not None:
        hosts = [h for h in spec.outcomes.hosts if h.route == options.route]
        if not hosts and (options.route != "global" or spec.outcomes.hosts):
            routes = sorted({h.route for h in spec.outcomes.hosts}) or ["global"]
            raise CheckError(f"provider {claim} has no official {options.route} host (its routes: "
                             f"{', '.join(routes)}): pass --base-url, or another --route")  # fmt: skip
        if hosts and (not inference or spec.outcomes.route_for(inference) != options.route):
            inference = hosts[0].url
    if not inference:
        raise CheckError(
            f"provider {claim} has no official inference URL (each account has its own host, e.g. an Azure "
            "resource): pass base_url=URL"
        )
    management = options.management_url or spec.management_base_url
    if options.management_url:
        check_url(options.management_url, "management_url", options.allow_http)
    reasons = {} if management else {"management": "no management URL"}
    # a URL the user gave gets /v1 appended as documented for --management-url; the
    # provider's own management_base_url is used as its data says
    official = spec.management_base_url.rstrip("/") if spec.management_base_url else None
    return Targets(inference.rstrip("/"), _mgmt(options.management_url) if options.management_url else official,
                   reasons), claim  # fmt: skip


def _route_agrees(options: CheckOptions, registry: Registry, claim: str | None) -> None:
    """``--route`` beside ``--base-url``: the named host must be on that route when the data declares it."""
    if options.route is None or not options.base_url:
        return
    specs = [registry.get(claim)] if claim else [registry.get(p) for p in registry.ids()]
    declared = next((r for s in specs if (r := s.outcomes.route_for(options.base_url))), None)
    if declared is not None and declared != options.route:
        raise CheckError(f"--route {options.route}: {options.base_url} is a {declared}-route host")


def route_of(url: str, spec: ProviderSpec | None, registry: Registry, given: str | None = None) -> str:
    """The route of the host a key was checked on: the identified provider's declared host, else any
    provider's declared host of that name, else the route the user gave (``--route`` beside a gateway's or the
    emulator's ``--base-url``), else ``global``."""
    if spec is not None and (route := spec.outcomes.route_for(url)):
        return route
    for pid in registry.ids():
        if route := registry.get(pid).outcomes.route_for(url):
            return route
    return given or "global"


def _claimed_id(claim: str | None, registry: Registry) -> str | None:
    """A claim by provider id or display name, case-insensitive (the display name or the id)."""
    if not claim:
        return None
    wanted = claim.strip().lower()
    for pid in registry.ids():
        if wanted in (pid, registry.get(pid).display_name.lower()):
            return pid
    raise CheckError(f"unknown provider {claim!r}: known are {', '.join(sorted(registry.ids()))}")


def check_options(options: CheckOptions) -> None:
    """Refuse options no check can honour (a non-positive timeout, no model checks, ...)."""
    for name, value in (("timeout_s", options.timeout_s), ("deadline_s", options.deadline_s)):
        if not (isinstance(value, (int, float)) and math.isfinite(value) and value > 0):
            raise CheckError(f"{name} must be a positive number of seconds, got {value!r}")
    if options.max_model_checks < 1:
        raise CheckError("max_model_checks must be at least 1")
    if not isinstance(options.max_in_flight, int) or options.max_in_flight < 1:
        raise CheckError(f"max_in_flight must be a whole number of at least 1, got {options.max_in_flight!r}")
    money = options.credits_remaining
    if money is not None and not (isinstance(money, (int, float)) and not isinstance(money, bool)
                                  and math.isfinite(money) and money >= 0):  # fmt: skip
        raise CheckError(f"credits_remaining must be an amount of USD of at least 0, got {money!r}")
    if options.payment_method not in (None, "card", "none"):
        raise CheckError(f"payment_method must be card or none, got {options.payment_method!r}")


def _mgmt(url: str | None) -> str | None:
    """A management URL as given; a bare host (``https://api.example.com``) gets ``/v1``."""
    if not url:
        return None
    return _with_v1(url) if httpx.URL(url).path in ("", "/") else url.rstrip("/")


def check_url(url: str, flag: str, allow_http: bool = False) -> None:
    """Raise :class:`CheckError` unless ``url`` is an http(s) URL with a host that the key may reach (``flag``:
    the Python argument that gave it, ``base_url``; the command line names its own flag):
    https anywhere, plain http only to a loopback host (or anywhere with ``allow_http``)."""
    try:
        parsed = httpx.URL(url)
    except (httpx.InvalidURL, TypeError):
        # what was given is quoted masked (a key pasted where a URL belongs is never echoed whole)
        raise CheckError(f"{flag} is not a URL: got {mask(str(url))}") from None
    if parsed.scheme not in ("http", "https") or not parsed.host:
        raise CheckError(f"{flag} must be an http(s) URL with a host, got {mask(str(url))}")
    if parsed.scheme == "http" and not allow_http and not is_loopback(parsed.host):
        raise CheckError(
            f"{flag} is plain http to {parsed.host}: the key would cross the network in clear text "
            "(use https, or pass allow_http=True)"
        )


def is_loopback(host: str) -> bool:
    """``localhost`` or a literal loopback address (127.0.0.0/8, ``::1``, IPv4-mapped); a name is never
    resolved here, so only those count."""
    name = host.strip().strip("[]").lower().rstrip(".")
    if name == "localhost":
        return True
    try:
        ip = ipaddress.ip_address(name)
    except ValueError:
        return False
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        return ip.ipv4_mapped.is_loopback
    return ip.is_loopback


def emulator_urls(key_ref: str | None, environ: Mapping[str, str]) -> tuple[str | None, str | None]:
    """The emulator's URLs when ``key_ref`` is ``env:NAME`` of a demo key ``testkey-nb lab`` started."""
    if not key_ref or not key_ref.startswith("env:"):
        return None, None
    names = {n.strip() for n in environ.get(EMULATOR_KEYS_ENV, "").split(",") if n.strip()}
    if key_ref[4:] not in names:
        return None, None
    return environ.get(BASE_URL_ENV) or None, environ.get(MANAGEMENT_URL_ENV) or None
