"""Key references and the secret they resolve to.

A *key reference* says where a key lives (``env:NAME`` or ``file:PATH``); notebooks, reports and
logs only ever see references and labels. A :class:`Secret` holds the key itself and refuses to show
it: ``repr``, ``str``, ``format``, f-strings, pickling and exception text all give the label.
The one way to read the value is :meth:`Secret.reveal`, used where the key goes on the wire.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Final, Literal, NoReturn
from urllib.parse import quote

from testkey_nb._files import private_file_problem

if TYPE_CHECKING:
    from testkey_nb.identify.schema import Registry

__all__ = [
    "KEY_NAMES_ENV",
    "LAB_KEYS_ENV",
    "REDACTED",
    "KeyRef",
    "KeyRefError",
    "RedactingFilter",
    "Secret",
    "baseten_key_format",
    "key_format",
    "lab_keys",
    "mask",
    "parse_key_ref",
    "redact",
    "redact_text",
    "resolve",
    "variants",
]

_MAX_KEY_CHARS = 4096


#: Set by ``testkey-nb lab``: the comma-separated NAMES of the key variables the kernel holds, so a
#: misspelt ``env:NAME`` can say which names exist (names only, never values).
KEY_NAMES_ENV = "TESTKEY_NB_KEY_NAMES"
#: Set by ``testkey-nb lab``: the PATH of the private (0600) keys file its kernels read ``env:NAME`` from.
#: Lab puts no key in any environment (server, kernel, terminal): in a process that has this variable,
#: ``env:NAME`` resolves from that file only, never from ``os.environ``.
LAB_KEYS_ENV = "TESTKEY_NB_LAB_KEYS"
_MAX_LAB_KEYS_BYTES = 1 << 20


class KeyRefError(ValueError):
    """A key reference could not be parsed or resolved. The message never holds a key."""

    def _render_traceback_(self) -> list[str]:
        """IPython shows this one line instead of a traceback (the message is the whole story)."""
        return [f"testkey-nb: error: {self}"]


def mask(text: str) -> str:
    """A masked form of what follows ``env:`` or ``file:`` in a message: at most its first 4 characters
    (fewer for a short text) and its length, e.g. ``BAS…(15 chars)``. A key pasted where a name or a
    path belongs (``env:sk-…``, ``file:b10_…``) is never echoed whole, whatever its shape."""
    shown = text[: min(4, len(text) // 4)]
    return f"{shown}…({len(text)} chars)"


@dataclass(frozen=True)
class KeyRef:
    """Where a key lives: ``env:NAME`` or ``file:PATH``."""

    kind: Literal["env", "file"]
    target: str

    def __str__(self) -> str:
        return f"{self.kind}:{self.target}"


def parse_key_ref(text: str) -> KeyRef:
    """Parse ``env:NAME`` or ``file:PATH``.

    Anything else is refused, including a bare key pasted by mistake: the message says how to pass
    a key without echoing what was given.
    """
    if not isinstance(text, str) or not text.strip():
        raise KeyRefError("empty key reference: use env:NAME or file:PATH")
    kind, sep, target = text.strip().partition(":")
    if not sep or kind not in ("env", "file"):
        raise KeyRefError(
            "not a key reference: use env:NAME (an environment variable) or file:PATH "
            "(a file readable only by you); a key itself is never accepted on the command line"
        )
    if not target:
        what = "NAME" if kind == "env" else "PATH"
        raise KeyRefError(f"{kind}: reference names nothing: use {kind}:{what}")
    if kind == "env" and not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", target):
        raise KeyRefError(
            f"env:{mask(target)} is not a valid environment variable name (letters, digits and _; "
            "the name of the variable that holds the key, never the key itself)"
        )
    return KeyRef(kind, target)  # type: ignore[arg-type]


def resolve(ref: KeyRef | str, environ: Mapping[str, str] | None = None) -> Secret:
    """Read the key a reference points at and wrap it in a :class:`Secret`."""
    key_ref = parse_key_ref(ref) if isinstance(ref, str) else ref
    shown = mask(key_ref.target)
    if key_ref.kind == "env":
        lab_file = os.environ.get(LAB_KEYS_ENV) if environ is None else None
        env = lab_keys(lab_file) if lab_file else os.environ if environ is None else environ
        if key_ref.target not in env:
            names = os.environ if environ is None else environ
            raise KeyRefError(f"environment variable env:{shown} is not set{_known_names(names)}")
        raw = env[key_ref.target]
        where = f"env:{shown}"
    else:
        raw = _read_key_file(Path(key_ref.target).expanduser(), f"file:{shown}")
        where = f"file:{shown}"
    return Secret(_clean(raw, where), source=str(key_ref))


def lab_keys(path: str | Path) -> dict[str, str]:
    """The ``{NAME: key}`` object of a Lab keys file (JSON, 0600, its owner's): read at each use, held
    nowhere else. Messages never quote the file's content."""
    target = Path(path)
    problem = private_file_problem(target, "Lab keys file")
    if problem:
        raise KeyRefError(problem)
    try:
        raw = target.read_bytes()[: _MAX_LAB_KEYS_BYTES + 1]
    except OSError as exc:
        raise KeyRefError(f"the Lab keys file cannot be read: {exc.strerror}") from None
    try:
        data = json.loads(raw.decode("utf-8")) if len(raw) <= _MAX_LAB_KEYS_BYTES else None
    except (ValueError, UnicodeDecodeError):
        data = None
    if not isinstance(data, dict) or not all(isinstance(k, str) and isinstance(v, str) for k, v in data.items()):
        raise KeyRefError("the Lab keys file is not a {NAME: key} JSON object")
    return data


def _known_names(env: Mapping[str, str]) -> str:
    """``; key variables here: A, B`` when ``testkey-nb lab`` listed its key variables (names only)."""
    listed = sorted({n.strip() for n in env.get(KEY_NAMES_ENV, "").split(",") if n.strip()})
    return "; key variables here: " + ", ".join(listed) if listed else ""


def _read_key_file(path: Path, shown: str) -> str:
    """The first line of the key file at ``path``; messages name it as ``shown`` (masked), never the path."""
    problem = private_file_problem(path, "key file", shown=shown)
    if problem:
        raise KeyRefError(problem)
    try:
        with path.open("r", encoding="utf-8", errors="strict") as fh:
            first = fh.readline(_MAX_KEY_CHARS + 2)
    except UnicodeDecodeError:
        raise KeyRefError(f"key file {shown} is not UTF-8 text") from None
    except OSError as exc:
        raise KeyRefError(f"key file {shown} cannot be read: {exc.strerror}") from None
    if not first.strip():
        raise KeyRefError(f"key file {shown} is empty (the key must be on its first line)")
    return first


def _clean(raw: str, where: str) -> str:
    value = raw.strip()
    if not value:
        raise KeyRefError(f"the key in {where} is empty")
    if len(value) > _MAX_KEY_CHARS:
        raise KeyRefError(f"the key in {where} is longer than {_MAX_KEY_CHARS} characters")
    if any(ch.isspace() for ch in value):
        raise KeyRefError(f"the key in {where} contains spaces or other white space inside it")
    if any(ord(ch) < 0x20 or ord(ch) == 0x7F or 0x80 <= ord(ch) < 0xA0 for ch in value):
        raise KeyRefError(f"the key in {where} contains control characters")
    if not value.isascii():
        raise KeyRefError(f"the key in {where} contains non-ASCII characters")
    return value


def _registry() -> Registry:
    """The provider registry: key shapes are provider knowledge (``providers/<id>/provider.toml``)."""
    from testkey_nb.identify.loader import load_registry

    return load_registry()


def key_format(value: str, provider: str) -> str | None:
    """The name of the first of ``provider``'s key patterns that ``value`` fully matches, if any."""
    spec = next((p for p in _registry().providers if p.id == provider), None)
    return next((kp.name for kp in spec.key_patterns if kp.regex.fullmatch(value)), None) if spec else None


def baseten_key_format(value: str) -> str | None:
    """:func:`key_format` for Baseten (``new`` / ``old``), the name this function had before."""
    return key_format(value, "baseten")


class Secret:
    """An API key that never shows itself: every rendering gives its label (``baseten-3f9a2c``)."""

    __slots__ = ("__value", "label", "source")

    def __init__(self, value: str, *, source: str | None = None, label: str | None = None) -> None:
        if not isinstance(value, str) or not value:
            raise KeyRefError("a secret must be a non-empty string")
        self.__value = value
        self.source = source
        self.label = label or fingerprint_label(value)

    def reveal(self) -> str:
        """The key itself: only for putting it on the wire or into a kernel's environment."""
        return self.__value

    @property
    def public_prefix(self) -> str | None:
        """The part the provider lists and revokes keys by, for a key whose shape declares one (a key
        pattern's ``prefix`` group: Baseten's ``b10_xxxxxxxx`` before the dot)."""
        found = _registry().public_part(self.__value)
        return found[1] if found else None

    @property
    def key_format(self) -> str | None:
        """The name of the key pattern that declares the key's public prefix (Baseten's ``new`` / ``old``)."""
        found = _registry().public_part(self.__value)
        return found[0].name if found else None

    def __repr__(self) -> str:
        return f"Secret({self.label})"

    def __str__(self) -> str:
        return f"<secret {self.label}>"

    def __format__(self, spec: str) -> str:
        return format(str(self), spec)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and other.__value == self.__value

    def __hash__(self) -> int:
        return hash(("Secret", self.label))

    def __reduce__(self) -> NoReturn:
        raise TypeError(
            f"{self!r} cannot be pickled: pass secret.reveal() explicitly where a key must travel"
        )

    def __getstate__(self) -> NoReturn:
        self.__reduce__()

    def __copy__(self) -> Secret:
        return self

    def __deepcopy__(self, memo: dict[int, object]) -> Secret:
        return self


def fingerprint_label(value: str) -> str:
    """A stable, non-reversible name for a key: provider prefix + 6 hex of a salted SHA-256."""
    digest = hashlib.sha256(b"testkey-nb/label/v1\x00" + value.encode("utf-8")).hexdigest()[:6]
    return f"{_provider_hint(value)}-{digest}"


def _provider_hint(value: str) -> str:
    """The label's first word: the provider a ``[key_label]`` in its folder names (by prefix or key
    pattern), else ``sk`` for an ``sk-`` key of no known provider, else ``key``."""
    provider = _registry().label_provider(value)
    if provider is not None:
        return provider
    if value.startswith("sk-"):
        return "sk"
    return "key"


REDACTED: Final = "[redacted]"
_ANSI_RE: Final = re.compile(r"\x1b\[[0-9;?]*[ -/]*[@-~]|\x1b[@-_]")
# Anything shaped like an API key: one token of 24+ key characters with 3+ digits and 3+ letters
# (sk-..., JWT parts, Baseten "prefix.secret", hex/base64 tokens). Errs towards over-redaction.
_KEY_SHAPE_RE: Final = re.compile(
    r"(?<![A-Za-z0-9_\-.+/=])"
    r"(?=(?:[A-Za-z_\-.+/=]*[0-9]){3})(?=(?:[0-9_\-.+/=]*[A-Za-z]){3})"  # lookaheads stay in the token
    r"[A-Za-z0-9][A-Za-z0-9_\-.+/=]{22,}[A-Za-z0-9=]"
    r"(?![A-Za-z0-9_\-.+/=])"
)


def variants(value: str) -> list[str]:
    """The forms a value takes in error text: itself, JSON/repr-escaped, URL-quoted."""
    forms = [value, json.dumps(value)[1:-1], repr(value)[1:-1], quote(value, safe="")]
    return [f for f in dict.fromkeys(forms) if f]


def _scrub(text: str, values: Iterable[Secret | str], *, key_shapes: bool) -> str:
    """The one redactor: every form of each value replaced, longest first, by its mark (a
    :class:`Secret`'s ``<secret LABEL>``, a plain value's ``[redacted]``); then, with ``key_shapes``,
    any key-shaped token."""
    marks: dict[str, str] = {}
    for item in values:
        value, mark = (item.reveal(), f"<secret {item.label}>") if isinstance(item, Secret) else (item, REDACTED)
        for form in variants(value) if value else ():
            marks.setdefault(form, mark)
    out = text
    for form in sorted(marks, key=len, reverse=True):
        out = out.replace(form, marks[form])
    return _KEY_SHAPE_RE.sub(REDACTED, out) if key_shapes else out


def redact(text: str, secrets: Iterable[Secret | str]) -> str:
    """Replace every occurrence of each secret in ``text`` by its label (``<secret LABEL>``)."""
    return _scrub(text, [item if isinstance(item, Secret) else Secret(item) for item in secrets], key_shapes=False)


def redact_text(text: str, values: Iterable[Secret | str], *, key_shapes: bool = True) -> str:
    """``text`` without ANSI escapes, without any form of ``values``, without key-shaped tokens."""
    return _scrub(_ANSI_RE.sub("", text), values, key_shapes=key_shapes)


class RedactingFilter(logging.Filter):
    """The one log filter: rewrites each record's message (and its traceback) with :func:`redact_text`.

    nbclient logs every kernel message at DEBUG ("content: ...", including error values) through
    papermill's logger; attached to that logger for the length of a render, this keeps a secret that
    reached a traceback out of the logs. A :class:`Secret` shows as its label, a plain value as
    ``[redacted]``.
    """

    def __init__(self, values: Iterable[Secret | str]) -> None:
        super().__init__()
        self._values = tuple(values)

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a broken format string: keep the raw template only
            message = str(record.msg)
        cleaned = redact_text(message, self._values)
        if cleaned != message or record.args:
            record.msg = cleaned
            record.args = None
        if record.exc_info and record.exc_info[1] is not None:
            record.exc_text = redact_text(logging.Formatter().formatException(record.exc_info), self._values)
            record.exc_info = None
        return True
