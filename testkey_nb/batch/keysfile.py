"""Keys files: many keys by label, for a batch render.

A TOML keys file lists key *references* (never keys)::

    [keys.acme-prod]
    ref = "env:ACME_KEY"                        # or "file:keys/acme.key" (relative to this file)
    claim = "openai"                            # optional: the provider the key is claimed to be for
    base_url = "https://api.example.com/v1"     # optional: inference base URL
    management_url = "https://api.baseten.co/v1" # optional
    allow_billable = false                      # optional: allow one 1-token completion
    credits_remaining = 12.5                    # optional: USD left, where the provider shows no balance
    payment_method = "card"                     # optional: "card" or "none" (how the account pays)

A dotenv file holds raw keys, one ``NAME=value`` a line (``export`` allowed, quotes stripped, ``#``
comments); it is refused unless only its owner may read it (mode 0600). Labels come from the variable
names: ``ACME_PROD=...`` is ``acme-prod``.

Every error names the file and the line, and never echoes a value that could be a key: what it quotes
from the file (a label, a field name, a claim, a variable name) is masked by :func:`testkey_nb.secrets.mask`.
"""

from __future__ import annotations

import math
import re
import stat
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

from testkey_nb._files import private_file_problem
from testkey_nb.check.result import CheckError
from testkey_nb.check.targets import check_url
from testkey_nb.secrets import KeyRefError, Secret, mask, parse_key_ref

__all__ = ["FIELDS", "LABEL_RE", "KeyEntry", "KeysFileError", "check_label", "load_keys_env", "load_keys_file"]

#: A label names a report file: letters, digits, ``.``, ``_``, ``-``; starting and ending with a letter or digit.
LABEL_RE: Final = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9._-]{0,62}[A-Za-z0-9])?")
#: Labels that would collide with the fleet index's own files.
RESERVED_LABELS: Final = frozenset({"index"})
#: The fields a ``[keys.<label>]`` table may hold, and their types.
FIELDS: Final[dict[str, type]] = {
    "ref": str,
    "claim": str,
    "base_url": str,
    "management_url": str,
    "allow_billable": bool,
    "credits_remaining": float,
    "payment_method": str,
}
_ENV_NAME_RE: Final = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_MAX_KEY_CHARS: Final = 4096
_MAX_FILE_BYTES: Final = 4 * 1024 * 1024


class KeysFileError(ValueError):
    """A keys file could not be used. The message names the file and line; it never holds a key."""


@dataclass(frozen=True)
class KeyEntry:
    """One key of a batch: its label and where the key lives (``ref``), or the key itself (``secret``,
    from a dotenv file; never printed, never pickled)."""

    label: str
    ref: str | None = None
    claim: str | None = None
    base_url: str | None = None
    management_url: str | None = None
    allow_billable: bool = False
    #: what the user knows of the money (USD left; ``card`` | ``none``), where the provider shows none
    credits_remaining: float | None = None
    payment_method: str | None = None
    secret: Secret | None = field(default=None, repr=False, compare=False)
    #: Where the entry was declared (``file:line``), for messages.
    origin: str | None = field(default=None, compare=False)

    def with_defaults(
        self, *, claim: str | None = None, base_url: str | None = None, management_url: str | None = None,
        credits_remaining: float | None = None, payment_method: str | None = None,
    ) -> KeyEntry:  # fmt: skip
        """This entry, with the given values filled in where the entry sets none."""
        return KeyEntry(
            label=self.label,
            ref=self.ref,
            claim=self.claim or claim or None,
            base_url=self.base_url or base_url or None,
            management_url=self.management_url or management_url or None,
            allow_billable=self.allow_billable,
            credits_remaining=self.credits_remaining if self.credits_remaining is not None else credits_remaining,
            payment_method=self.payment_method or payment_method or None,
            secret=self.secret,
            origin=self.origin,
        )


def check_label(label: str) -> str | None:
    """Why ``label`` cannot name a report (None when it can)."""
    if not LABEL_RE.fullmatch(label):
        return "a label is 1-64 letters, digits, '.', '_' or '-', starting and ending with a letter or digit"
    if label.lower() in RESERVED_LABELS:
        return f"the label {label!r} is reserved (the fleet index uses it)"
    return None


# --- TOML ------------------------------------------------------------------------------------------------


def _label_pattern(label: str) -> str:
    quoted = re.escape(label)
    return rf"""(?:{quoted}|"{quoted}"|'{quoted}')"""


def _locate(lines: list[str], label: str, field_name: str | None = None) -> int | None:
    """1-based line of ``[keys.<label>]`` (or of ``field = `` inside it), or of an inline ``<label> =``."""
    lab = _label_pattern(label)
    header = re.compile(rf"^\s*\[\s*keys\s*\.\s*{lab}\s*\]")
    dotted = re.compile(rf"^\s*(?:keys\s*\.\s*)?{lab}\s*(?:\.\s*(\w+)\s*)?=")
    any_header = re.compile(r"^\s*\[")
    for i, line in enumerate(lines):
        if header.match(line):
            if field_name is None:
                return i + 1
            want = re.compile(rf"""^\s*(?:{re.escape(field_name)}|"{re.escape(field_name)}")\s*=""")
            for j in range(i + 1, len(lines)):
                if any_header.match(lines[j]):
                    break
                if want.match(lines[j]):
                    return j + 1
            return i + 1
    for i, line in enumerate(lines):
        m = dotted.match(line)
        if m and (field_name is None or m.group(1) in (None, field_name)):
            return i + 1
    return None


def _where(path: Path, line: int | None) -> str:
    return f"{path}:{line}" if line else str(path)


def _read_text(path: Path) -> str:
    try:
        st = path.stat()
    except FileNotFoundError:
        raise KeysFileError(f"{path}: no such file") from None
    except OSError as exc:
        raise KeysFileError(f"{path}: cannot read: {exc.strerror}") from None
    if not stat.S_ISREG(st.st_mode):
        raise KeysFileError(f"{path}: not a regular file")
    if st.st_size > _MAX_FILE_BYTES:
        raise KeysFileError(f"{path}: larger than {_MAX_FILE_BYTES // (1024 * 1024)} MiB")
    try:
        return path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise KeysFileError(f"{path}: not UTF-8 text") from None
    except OSError as exc:
        raise KeysFileError(f"{path}: cannot read: {exc.strerror}") from None


def _check_url(value: str) -> bool:
    """An http(s) URL with a host (the plain-http rule is applied when the key's check starts)."""
    try:
        check_url(value, "url", allow_http=True)
    except CheckError:
        return False
    return True


def _known_providers() -> frozenset[str]:
    from testkey_nb.identify.loader import load_registry

    return frozenset(load_registry().ids())


def load_keys_file(path: Path | str) -> list[KeyEntry]:
    """Read a TOML keys file (``[keys.<label>]`` tables); raise :class:`KeysFileError` naming the line."""
    path = Path(path)
    text = _read_text(path)
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        # tomllib's message says "(at line L, column C)"; it quotes no value.
        raise KeysFileError(f"{path}: not valid TOML: {exc}") from None
    lines = text.splitlines()
    unknown_top = sorted(set(data) - {"keys"})
    if unknown_top:
        name = unknown_top[0]
        line = next((i + 1 for i, ln in enumerate(lines) if re.match(rf"^\s*\[?\s*{re.escape(name)}\b", ln)), None)
        raise KeysFileError(
            f"{_where(path, line)}: unknown top-level entry {mask(name)}: a keys file holds [keys.<label>] tables only"
        )
    keys = data.get("keys")
    if not isinstance(keys, dict) or not keys:
        raise KeysFileError(f'{path}: no keys: add a [keys.<label>] table with ref = "env:NAME"')
    entries: list[KeyEntry] = []
    seen: dict[str, str] = {}
    providers: frozenset[str] | None = None
    for label, table in keys.items():
        # what the file says is quoted masked (a key pasted as a label, field or claim is never echoed)
        shown = mask(label)
        line = _locate(lines, label)
        where = _where(path, line)
        problem = check_label(label)
        if problem:
            raise KeysFileError(f"{where}: bad label {shown}: {problem}")
        if label.lower() in seen:
            raise KeysFileError(
                f"{where}: duplicate label {shown} (labels are case-insensitive; {mask(seen[label.lower()])} is "
                "already defined)"
            )
        seen[label.lower()] = label
        if not isinstance(table, dict):
            raise KeysFileError(f'{where}: keys.{shown} must be a table with ref = "env:NAME" or "file:PATH"')
        for name, value in table.items():
            field_where = _where(path, _locate(lines, label, name))
            if name not in FIELDS:
                raise KeysFileError(
                    f"{field_where}: keys.{shown}: unknown field {mask(name)} (known: {', '.join(FIELDS)})"
                )
            want = FIELDS[name]
            number = want is float and isinstance(value, (int, float)) and not isinstance(value, bool)
            if not (isinstance(value, want) or number):
                kind = {str: "a string", bool: "true or false", float: "a number"}[want]
                raise KeysFileError(f"{field_where}: keys.{shown}.{name} must be {kind}")
            if name == "credits_remaining" and not (math.isfinite(value) and value >= 0):
                raise KeysFileError(f"{field_where}: keys.{shown}.credits_remaining must be an amount of at least 0")
            if name == "payment_method" and value.strip() not in ("card", "none"):
                raise KeysFileError(f"{field_where}: keys.{shown}.payment_method must be \"card\" or \"none\"")
        fields: dict[str, Any] = {k: (v.strip() if isinstance(v, str) else v) for k, v in table.items()}
        if not fields.get("ref"):
            raise KeysFileError(f'{where}: keys.{shown}: missing ref (ref = "env:NAME" or "file:PATH")')
        ref_where = _where(path, _locate(lines, label, "ref"))
        try:
            key_ref = parse_key_ref(fields["ref"])
        except KeyRefError:
            # The value is not echoed: a key pasted here by mistake must not reach a terminal or a log.
            raise KeysFileError(
                f"{ref_where}: keys.{shown}.ref is not a key reference: use env:NAME (an environment variable) "
                "or file:PATH (a file readable only by you); a key itself is never accepted in a keys file"
            ) from None
        ref = str(key_ref)
        if key_ref.kind == "file":
            target = Path(key_ref.target).expanduser()
            if not target.is_absolute():
                target = (path.parent / target).absolute()
            ref = f"file:{target}"
        for url_field in ("base_url", "management_url"):
            if url_field in fields and not _check_url(fields[url_field]):
                raise KeysFileError(
                    f"{_where(path, _locate(lines, label, url_field))}: keys.{shown}.{url_field} must be an "
                    "http(s) URL with a host"
                )
        if fields.get("claim"):
            providers = providers or _known_providers()
            if fields["claim"] not in providers:
                raise KeysFileError(
                    f"{_where(path, _locate(lines, label, 'claim'))}: keys.{shown}.claim {mask(fields['claim'])} is "
                    f"not a known provider (known: {', '.join(sorted(providers))})"
                )
        entries.append(
            KeyEntry(
                label=label,
                ref=ref,
                claim=fields.get("claim") or None,
                base_url=fields.get("base_url") or None,
                management_url=fields.get("management_url") or None,
                allow_billable=bool(fields.get("allow_billable", False)),
                credits_remaining=float(fields["credits_remaining"]) if "credits_remaining" in fields else None,
                payment_method=fields.get("payment_method") or None,
                origin=where,
            )
        )
    return entries


# --- dotenv ----------------------------------------------------------------------------------------------


def _env_value(raw: str) -> str | None:
    """The value of a dotenv assignment (quotes stripped, unquoted ``#`` comment dropped); None if malformed."""
    value = raw.strip()
    if value[:1] in ("'", '"'):
        quote = value[0]
        end = value.find(quote, 1)
        if end < 0:
            return None
        rest = value[end + 1 :].strip()
        if rest and not rest.startswith("#"):
            return None
        return value[1:end]
    if " #" in value or "\t#" in value:
        value = re.split(r"\s#", value, maxsplit=1)[0].rstrip()
    return value


def _value_problem(value: str) -> str | None:
    if not value:
        return "is empty"
    if len(value) > _MAX_KEY_CHARS:
        return f"is longer than {_MAX_KEY_CHARS} characters"
    if any(ch.isspace() for ch in value):
        return "contains white space"
    if not value.isascii() or any(ord(ch) < 0x20 or ord(ch) == 0x7F for ch in value):
        return "contains control or non-ASCII characters"
    return None


def load_keys_env(path: Path | str) -> list[tuple[str, Secret]]:
    """Read a dotenv file of raw keys: ``[(label, Secret), ...]`` in file order.

    Refused unless the file is a regular file only its owner may read or write (mode 0600 or 0400).
    Labels are the variable names lower-cased with ``_`` -> ``-``. Errors name the line, never a value.
    """
    path = Path(path)
    problem = private_file_problem(path, "keys file")
    if problem:
        raise KeysFileError(problem)
    text = _read_text(path)
    found: list[tuple[str, Secret]] = []
    seen: dict[str, int] = {}
    for number, raw_line in enumerate(text.splitlines(), start=1):
        line = raw_line.strip()
        if not line or line.startswith("#"):
            continue
        if line.startswith("export ") or line.startswith("export\t"):
            line = line[len("export") :].strip()
        name, sep, raw_value = line.partition("=")
        name = name.strip()
        where = f"{path}:{number}"
        shown = mask(name)  # a key pasted as the name is never echoed
        if not sep:
            raise KeysFileError(f"{where}: expected NAME=value")
        if not _ENV_NAME_RE.fullmatch(name):
            raise KeysFileError(f"{where}: not a variable name before '=' (use letters, digits and _)")
        label = name.lower().replace("_", "-")
        problem = check_label(label)
        if problem:
            raise KeysFileError(f"{where}: {shown} gives the label {mask(label)}: {problem}")
        if label in seen:
            raise KeysFileError(f"{where}: duplicate label {mask(label)} (line {seen[label]} defines it already)")
        value = _env_value(raw_value)
        if value is None:
            raise KeysFileError(f"{where}: the value of {shown} has an unclosed quote or text after its quotes")
        problem = _value_problem(value)
        if problem:
            raise KeysFileError(f"{where}: the value of {shown} {problem}")
        seen[label] = number
        found.append((label, Secret(value, source=f"{path}:{number}")))
    if not found:
        raise KeysFileError(f"{path}: no keys (expected NAME=value lines)")
    return found
