"""The rules engine the three lenses share (testkey_nb/check/rules.py): phrases, lists with `each` and
`group`, first-match verdicts, actions that end the list, counted words; and inventory fit's verdict
comes from lenses.toml, not from code."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest

from testkey_nb.check import decide as decide_module
from testkey_nb.check import rules
from testkey_nb.check.rules import ActionRule, LensError, LensRules, ListItem, Phrase, Rule, evaluate, text


def _rules(**over: Any) -> LensRules:
    base = LensRules(
        name="t", title="T", question="?", from_decision=False,
        rules=(Rule(("gap",), "needs_work", "{gap_text}"), Rule((), "ready", "{n:plural=model} {n:one=is|are} fine")),
        actions=(ActionRule(("stop",), "halt", "stopped", ("*gap_evidence",), last=True),
                 ActionRule((), "go", "go{tail}", ("n: {n}",))),
        phrases=(Phrase("tail", ("n > 1",), " (and {n:plural=other})"), Phrase("tail", (), "")),
        lists=(ListItem("gap", ("low",), "too low", ("low: {n}",), group="g"),
               ListItem("gap", ("n == 0",), "none", ("none",), group="g"),
               ListItem("gap", (), "bad {item}", ("bad: {item}",), each="bad")),
    )  # fmt: skip
    return dataclasses.replace(base, **over)


def test_phrases_lists_verdicts_and_actions_in_order() -> None:
    ok = evaluate(_rules(), {"n": 1, "low": False, "stop": False, "bad": []})
    assert (ok.verdict, ok.summary) == ("ready", "1 model is fine")
    assert [(a.action, a.reason, a.evidence) for a in ok.actions] == [("go", "go", ("n: 1",))]
    many = evaluate(_rules(), {"n": 3, "low": False, "stop": False, "bad": []})
    assert many.summary == "3 models are fine" and many.actions[0].reason == "go (and 3 others)"
    # a group takes its first entry that holds; `each` repeats an entry per item; NAME_text joins by "; "
    gaps = evaluate(_rules(), {"n": 0, "low": True, "stop": False, "bad": ["x", "y"]})
    assert (gaps.verdict, gaps.summary) == ("needs_work", "too low; bad x; bad y")
    # `last` ends the actions; `*NAME` spreads a list fact into the evidence
    stopped = evaluate(_rules(), {"n": 0, "low": False, "stop": True, "bad": ["x"]})
    assert [(a.action, a.evidence) for a in stopped.actions] == [("halt", ("none", "bad: x"))]


def test_rule_errors_are_errors_not_blanks() -> None:
    with pytest.raises(LensError, match="unknown fact"):
        evaluate(_rules(), {"n": 1, "low": False, "stop": False})  # `bad` missing
    with pytest.raises(LensError, match="lens text"):
        text("{missing}", {})
    assert text("{n:one=has|have}", {"n": 2}) == "have" and text("{n:plural=query}", {"n": 2}) == "2 queries"


def test_inventory_fit_reads_its_rules_from_the_data(monkeypatch: pytest.MonkeyPatch) -> None:
    """Changing inventory fit's last verdict rule in the data changes decide()'s answer: the rule is data."""
    spec = rules.lens_rules()["inventory-fit"]
    assert spec.from_decision and spec.rules[-1].summary == "see actions" and len(spec.actions) >= 10
    changed = dataclasses.replace(spec, rules=(Rule((), "reject", "from the data: {provider}"),), phrases=(), lists=(),
                                  actions=())
    monkeypatch.setattr(decide_module, "lens_rules", lambda: {"inventory-fit": changed})
    captured: dict[str, Any] = {}

    def fake_facts(profile: Any, *, inference_url: str | None = None) -> dict[str, Any]:
        captured["url"] = inference_url
        return {"provider": "acme"}

    monkeypatch.setattr(decide_module, "inventory_facts", fake_facts)
    decision = decide_module.decide(object(), inference_url="u")  # type: ignore[arg-type]
    assert (decision.verdict, decision.summary, decision.actions) == ("reject", "from the data: acme", ())
    assert captured == {"url": "u"}
