"""The write guard: an allow-list of what a probe may send. Anything else raises :class:`WriteRefused`."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from testkey_nb.probe.plan import ProbeSpec

__all__ = ["CHAT_PATHS", "WriteRefused", "check_allowed"]


class WriteRefused(RuntimeError):
    """A request that could change provider state or spend money was stopped before it was sent."""


#: the chat endpoints a ``rejected`` / ``billable`` POST may go to: OpenAI-compatible chat completions
#: and Anthropic's Messages API (https://docs.anthropic.com/en/api/messages); same body rules for both
CHAT_PATHS = ("/chat/completions", "/messages")
_REJECTED_KEYS = frozenset({"model", "messages", "max_tokens"})
_MAX_PROMPT_CHARS = 200


def check_allowed(spec: ProbeSpec, *, allow_billable: bool) -> None:
    """The write guard, an allow-list. Raises :class:`WriteRefused` for anything but a GET read, a chat
    completion built to be refused (an empty message list, ``max_tokens`` 1, nothing else) or, with
    ``allow_billable``, one tiny chat completion (one short user message, ``max_tokens`` 1)."""
    if spec.method == "GET" and spec.cost == "read" and spec.body is None:
        return
    if spec.method != "POST" or spec.role != "inference" or spec.path not in CHAT_PATHS:
        raise WriteRefused(f"probe {spec.name}: {spec.method} {spec.role} {spec.path} is not a read-only probe")
    body = dict(spec.body or {})
    if spec.cost == "rejected":
        if set(body) == _REJECTED_KEYS and body["messages"] == [] and body["max_tokens"] == 1:
            return
        raise WriteRefused(
            f"probe {spec.name}: a 'rejected' POST sends only model, an empty message list and max_tokens 1"
        )
    if spec.cost == "billable":
        if not allow_billable:
            raise WriteRefused(f"probe {spec.name} is billable: it runs only with allow_billable=True")
        messages = body.get("messages")
        tiny = (
            set(body) == _REJECTED_KEYS
            and body["max_tokens"] == 1
            and isinstance(messages, list)
            and len(messages) == 1
            and isinstance(messages[0], dict)
            and messages[0].get("role") == "user"
            and len(str(messages[0].get("content", ""))) <= _MAX_PROMPT_CHARS
        )
        if tiny:
            return
        raise WriteRefused(f"probe {spec.name}: a billable probe is one short user message with max_tokens 1")
    raise WriteRefused(f"probe {spec.name}: cost {spec.cost!r} is not a probe cost class")
