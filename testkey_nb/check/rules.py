"""The rules engine of the lenses: verdict rules, actions, phrases and lists written as data.

``lenses.toml`` (beside this module) holds every lens's rules; this module parses them
(:func:`lens_rules`) and applies them to a dict of provider-neutral facts (:func:`evaluate`). It knows
no lens and no provider. The format is documented at the top of ``lenses.toml`` and in docs/lenses.md.

Evaluation of one lens, in order: its ``phrase`` entries (the first of each name whose conditions hold
becomes a fact), its ``list`` entries (each entry whose conditions hold adds its text to the named list,
once per item of ``each``; within a ``group`` only the first that holds; the list becomes facts
``NAME``, ``NAME_text`` and ``NAME_evidence``), the first ``verdict`` rule that holds, then every
``action`` that holds (an action with ``last = true`` ends the actions when it applies).
"""

from __future__ import annotations

import functools
import re
import string
import tomllib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from importlib import resources
from typing import Any, Final

from testkey_nb._labels import plural

__all__ = ["Action", "LensError", "LensRules", "Outcome", "condition", "evaluate", "lens_rules"]

VERDICTS: Final = ("ready", "needs_work", "reject")
_CONDITION = re.compile(r"^\s*(not\s+)?([a-z_]+)\s*(?:(==|!=|<=|>=|<|>)\s*(\S+))?\s*$")


class LensError(ValueError):
    """An unknown lens name, or a lens rule that does not parse."""


@dataclass(frozen=True)
class Action:
    action: str
    reason: str
    evidence: tuple[str, ...]

    def as_dict(self) -> dict[str, object]:
        return {"action": self.action, "reason": self.reason, "evidence": list(self.evidence)}


@dataclass(frozen=True)
class Rule:
    when: tuple[str, ...]
    verdict: str
    summary: str


@dataclass(frozen=True)
class ActionRule:
    when: tuple[str, ...]
    action: str
    reason: str
    evidence: tuple[str, ...]
    last: bool = False


@dataclass(frozen=True)
class Phrase:
    name: str
    when: tuple[str, ...]
    text: str


@dataclass(frozen=True)
class ListItem:
    name: str
    when: tuple[str, ...]
    text: str
    evidence: tuple[str, ...]
    each: str = ""
    group: str = ""


@dataclass(frozen=True)
class LensRules:
    name: str
    title: str
    question: str
    from_decision: bool
    rules: tuple[Rule, ...]
    actions: tuple[ActionRule, ...]
    phrases: tuple[Phrase, ...] = ()
    lists: tuple[ListItem, ...] = ()


@dataclass(frozen=True)
class Outcome:
    verdict: str
    summary: str
    actions: tuple[Action, ...]


def _strings(raw: Mapping[str, Any], key: str) -> tuple[str, ...]:
    return tuple(str(x) for x in raw.get(key, ()))


@functools.cache
def lens_rules() -> dict[str, LensRules]:
    """Every lens of ``lenses.toml`` by name, in file order (checked once per process)."""
    data = tomllib.loads(resources.files("testkey_nb.check").joinpath("lenses.toml").read_text("utf-8"))
    out: dict[str, LensRules] = {}
    for name, raw in data.get("lens", {}).items():
        rules = tuple(Rule(_strings(r, "when"), str(r["verdict"]), str(r["summary"])) for r in raw.get("verdict", []))
        actions = tuple(ActionRule(_strings(a, "when"), str(a["action"]), str(a["reason"]), _strings(a, "evidence"),
                                   bool(a.get("last", False))) for a in raw.get("action", []))  # fmt: skip
        phrases = tuple(Phrase(str(p["name"]), _strings(p, "when"), str(p["text"])) for p in raw.get("phrase", []))
        lists = tuple(ListItem(str(i["name"]), _strings(i, "when"), str(i["text"]), _strings(i, "evidence"),
                               str(i.get("each", "")), str(i.get("group", "")))
                      for i in raw.get("list", []))  # fmt: skip
        if not rules or rules[-1].when:
            raise LensError(f"lenses.toml: {name}'s last verdict rule must hold always (an empty `when`)")
        for rule in rules:
            if rule.verdict not in VERDICTS:
                raise LensError(f"lenses.toml: {name}: verdict {rule.verdict!r} is not one of {VERDICTS}")
        conditions = [c for group in (rules, actions, phrases, lists) for r in group for c in r.when]
        for cond in conditions:
            if not _CONDITION.match(cond):
                raise LensError(f"lenses.toml: {name}: condition {cond!r} does not parse")
        out[name] = LensRules(name, str(raw["title"]), str(raw["question"]), raw.get("from") == "decision",
                              rules, actions, phrases, lists)  # fmt: skip
    return out


def evaluate(rules: LensRules, base: Mapping[str, Any]) -> Outcome:
    """``rules`` applied to the facts ``base`` (see the module's docstring for the order)."""
    facts = dict(base)
    for phrase in rules.phrases:
        if phrase.name not in facts and _holds(phrase.when, facts):
            facts[phrase.name] = text(phrase.text, facts)
    lists: dict[str, tuple[list[str], list[str]]] = {i.name: ([], []) for i in rules.lists}
    for name in lists:
        facts[name] = []
    taken: set[str] = set()
    for item in rules.lists:
        if (item.group and item.group in taken) or not _holds(item.when, facts):
            continue
        if item.group:
            taken.add(item.group)
        texts, evidence = lists[item.name]
        for each in _each(item.each, facts):
            scope = {**facts, "item": each}
            texts.append(text(item.text, scope))
            evidence.extend(_evidence(item.evidence, scope))
        facts.update({item.name: list(texts), f"{item.name}_text": "; ".join(texts),
                      f"{item.name}_evidence": list(evidence)})  # fmt: skip
    for name, (texts, evidence) in lists.items():
        facts.setdefault(f"{name}_text", "; ".join(texts))
        facts.setdefault(f"{name}_evidence", list(evidence))
    rule = next(r for r in rules.rules if _holds(r.when, facts))
    actions: list[Action] = []
    for a in rules.actions:
        if _holds(a.when, facts):
            actions.append(Action(a.action, text(a.reason, facts), _evidence(a.evidence, facts)))
            if a.last:
                break
    return Outcome(rule.verdict, text(rule.summary, facts), tuple(actions))


def _each(name: str, facts: Mapping[str, Any]) -> Sequence[Any]:
    if not name:
        return (None,)
    if name not in facts:
        raise LensError(f"each {name!r}: unknown fact")
    return tuple(facts[name])


def _evidence(templates: Sequence[str], facts: Mapping[str, Any]) -> tuple[str, ...]:
    """Evidence lines; ``*NAME`` spreads the list fact NAME."""
    out: list[str] = []
    for template in templates:
        if template.startswith("*"):
            if template[1:] not in facts:
                raise LensError(f"evidence {template!r}: unknown fact")
            out.extend(str(x) for x in facts[template[1:]])
        else:
            out.append(text(template, facts))
    return tuple(out)


def _holds(conditions: Sequence[str], facts: Mapping[str, Any]) -> bool:
    return all(condition(c, facts) for c in conditions)


def condition(cond: str, facts: Mapping[str, Any]) -> bool:
    """Whether one condition (``FACT``, ``not FACT``, ``FACT OP VALUE``) holds over the facts."""
    match = _CONDITION.match(cond)
    if match is None:
        raise LensError(f"condition {cond!r} does not parse")
    negate, name, op, literal = match.groups()
    if name not in facts:
        raise LensError(f"condition {cond!r}: unknown fact {name!r}")
    value = facts[name]
    if op is None:
        result = bool(value)
    else:
        other = _literal(literal)
        if op in ("==", "!="):
            result = (value == other) == (op == "==")
        elif not isinstance(value, (int, float)) or not isinstance(other, (int, float)):
            raise LensError(f"condition {cond!r}: {op} needs numbers")
        else:
            result = {"<": value < other, "<=": value <= other, ">": value > other, ">=": value >= other}[op]
    return not result if negate else result


def _literal(word: str) -> Any:
    if word in ("true", "false"):
        return word == "true"
    try:
        return float(word) if "." in word else int(word)
    except ValueError:
        return word


class _Words(string.Formatter):
    """Python's format, plus two specs for counted words: ``{n:plural=model}`` ("1 model", "3 models")
    and ``{n:one=has|have}`` (the first word when n is 1, else the second)."""

    def format_field(self, value: Any, format_spec: str) -> Any:
        if format_spec.startswith("plural="):
            return plural(value, format_spec[len("plural="):])
        if format_spec.startswith("one="):
            one, _, many = format_spec[len("one="):].partition("|")
            return one if value == 1 else many
        return super().format_field(value, format_spec)


def text(template: str, facts: Mapping[str, Any]) -> str:
    """``template`` filled from the facts (an unknown field is a rule error, not a silent blank)."""
    try:
        return _Words().vformat(template, (), dict(facts))
    except (KeyError, ValueError) as exc:
        raise LensError(f"lens text {template!r}: {exc}") from None
