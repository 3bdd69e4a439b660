"""Changes along a synthetic timeline; every expected change below was worked out by hand."""

from __future__ import annotations

from history_helpers import models, snap

from testkey_nb.history import changes_since, history_json, timeline_changes


def _timeline():
    s0 = snap(0)
    s1 = snap(1, remaining=90)
    s2 = snap(2, model_ids=("a/one", "c/three"), remaining=80, tpm=500)
    s3 = snap(3, status="failed", error="provider down", verdict=None, remaining=None, tpm=None,
              facts={"models": None})
    s4 = snap(4, model_ids=("a/one", "c/three"), remaining=70, tpm=500, verdict="needs_work",
              facts={"models": models("a/one", "c/three", prices={"a/one": (1.5, 2.0)})})
    s5 = snap(5, remaining=None, tpm=None, verdict="needs_work", facts={"models": None})
    s6 = snap(6, remaining=70, tpm=500, verdict="needs_work",
              facts={"models": models("a/one", prices={"a/one": (1.5, 2.0)}, denied=("a/one",))})
    return [s0, s1, s2, s3, s4, s5, s6]


def test_changes_worked_out_by_hand() -> None:
    got = [c.as_dict() for c in timeline_changes(_timeline())]
    assert got == [
        {"at": "2026-11-02T12:00:00Z", "field": "balance.remaining", "before": 100.0, "after": 90.0},
        {"at": "2026-11-03T12:00:00Z", "field": "models.removed", "before": "b/two", "after": None},
        {"at": "2026-11-03T12:00:00Z", "field": "models.added", "before": None, "after": "c/three"},
        {"at": "2026-11-03T12:00:00Z", "field": "limits.tokens_per_minute", "before": 1000.0, "after": 500.0},
        {"at": "2026-11-03T12:00:00Z", "field": "balance.remaining", "before": 90.0, "after": 80.0},
        # a failed render: its status changed; its models, limits and balance are unknown, not gone
        {"at": "2026-11-04T12:00:00Z", "field": "status", "before": "valid", "after": "failed"},
        # back: the verdict is compared with the last render that had one
        {"at": "2026-11-05T12:00:00Z", "field": "status", "before": "failed", "after": "valid"},
        {"at": "2026-11-05T12:00:00Z", "field": "verdict", "before": "ready", "after": "needs_work"},
        {"at": "2026-11-05T12:00:00Z", "field": "prices.a/one", "before": {"in": 1.0, "out": 2.0},
         "after": {"in": 1.5, "out": 2.0}},
        {"at": "2026-11-05T12:00:00Z", "field": "balance.remaining", "before": 80.0, "after": 70.0},
        # day 5 read nothing new: no change; day 6 is compared with what day 4 knew
        {"at": "2026-11-07T12:00:00Z", "field": "models.removed", "before": "c/three", "after": None},
        {"at": "2026-11-07T12:00:00Z", "field": "models.allowed.a/one", "before": True, "after": False},
    ]


def test_changes_since_is_the_last_step_of_the_timeline() -> None:
    snaps = _timeline()
    assert changes_since([], snaps[0]) == []
    assert changes_since(snaps[:6], snaps[6]) == timeline_changes(snaps)[-2:]
    assert changes_since(snaps[:5], snaps[5]) == []


def test_an_untouched_key_has_no_changes() -> None:
    snaps = [snap(d) for d in range(4)]
    out = history_json(snaps)
    assert [o["label"] for o in out] == ["k1"]
    assert out[0]["changes"] == []
    assert [s["rendered_at"] for s in out[0]["snapshots"]] == [
        "2026-11-01T12:00:00Z", "2026-11-02T12:00:00Z", "2026-11-03T12:00:00Z", "2026-11-04T12:00:00Z"]
    assert out[0]["snapshots"][0]["balance"]["remaining"] == 100.0
    assert out[0]["snapshots"][0]["allowed_models"] == 2


def test_derived_limits_and_used_balance_rules() -> None:
    lim = [{"scope": "tokens_per_day", "value": 1_440_000, "provenance": "derived", "source": "x"}]
    lim2 = [{"scope": "tokens_per_day", "value": 720_000, "provenance": "derived", "source": "x"}]
    a = snap(0, facts={"limits": lim, "balance": {"used": 1.0, "currency": "USD"}}, tpm=None)
    b = snap(1, facts={"limits": lim2, "balance": {"used": 3.0, "currency": "USD"}}, tpm=None)
    # the per-day limit derived from the per-minute one is not a change of its own; used counts
    # only where nobody knew what remains
    assert [c.as_dict() for c in timeline_changes([a, b])] == [
        {"at": "2026-11-02T12:00:00Z", "field": "balance.used", "before": 1.0, "after": 3.0}]
