"""Words people read (issue 22): one label mapping for every enum, one date format, plural forms, names
told apart, error bodies as sentences."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone

import pytest

from testkey_nb._format import distinct_names, moment
from testkey_nb._labels import LABELS, label, plural
from testkey_nb.check.profile.observed import said_text


@pytest.mark.parametrize(
    ("value", "text"),
    [
        ("2026-12-02T02:48:10+00:00", "2 Dec 2026, 02:48 UTC"),
        ("2026-12-02T05:48:10+03:00", "2 Dec 2026, 02:48 UTC"),  # shown in UTC, whatever the offset
        ("2026-03-10T00:11:00Z", "10 Mar 2026, 00:11 UTC"),
        (datetime(2026, 1, 5, 23, 59, tzinfo=timezone(timedelta(hours=-2))), "6 Jan 2026, 01:59 UTC"),
        (datetime(2026, 1, 5, 7, 3), "5 Jan 2026, 07:03 UTC"),  # naive: taken as UTC
        ("2026-12-02", "2 Dec 2026"),
        (date(2026, 7, 4), "4 Jul 2026"),
        (None, "unknown"),
        ("not a time", "not a time"),
    ],
)
def test_one_date_format(value: object, text: str) -> None:
    assert moment(value) == text


def test_moment_with_seconds() -> None:
    assert moment(datetime(2026, 12, 2, 2, 48, 7, tzinfo=UTC), seconds=True) == "2 Dec 2026, 02:48:07 UTC"


def test_labels_cover_every_enum_code() -> None:
    from testkey_nb.check.profile import STATUS_MEANINGS
    from testkey_nb.check.profile.capabilities import CapStatus
    from testkey_nb.probe.observation import Outcome

    assert set(STATUS_MEANINGS) <= set(LABELS["status"])
    import re
    from pathlib import Path

    import testkey_nb.check.profile.status as status_module

    source = Path(status_module.__file__).read_text(encoding="utf-8")
    reasons = set(re.findall(r'KeyStatus\(\s*"[a-z_]+",\s*"([a-z_0-9]+)"', source))
    assert len(reasons) >= 10 and reasons <= set(LABELS["status_reason"]), reasons - set(LABELS["status_reason"])
    assert set(CapStatus.__args__) == set(LABELS["capability_status"])  # type: ignore[attr-defined]
    assert set(Outcome.__args__) == set(LABELS["outcome"])  # type: ignore[attr-defined]
    assert set(LABELS["grade"]) == {"confirmed", "partially_visible", "invisible", "not_exposed"}
    assert set(LABELS["lens"]) == {"inventory-fit", "onboarding-readiness", "commercial-launch"}
    for kind, mapping in LABELS.items():
        for code, words in mapping.items():
            assert "_" not in words, (kind, code, words)  # no raw identifier reads as a label
    assert label("verdict", "needs_work") == "needs work"
    assert label("status", "valid_not_scoped") == "valid, no model allowed"
    assert label("status", None) == "unknown"
    assert label("status", "brand_new_code") == "brand new code"  # an unmapped code still reads as words


@pytest.mark.parametrize(
    ("n", "word", "text"),
    [(1, "model", "1 model"), (0, "model", "0 models"), (13, "model", "13 models"), (1234, "request", "1,234 requests"),
     (2, "body", "2 bodies"), (2, "day", "2 days"), (1, "allowed model", "1 allowed model")],
)  # fmt: skip
def test_plural_forms(n: int, word: str, text: str) -> None:
    assert plural(n, word) == text


def test_names_told_apart() -> None:
    assert distinct_names(["deployment-1", "deployment-1", "solo"], ["whisper-v3", "llama", "x"], ["a", "b", "c"]) == [
        "deployment-1 (whisper-v3)", "deployment-1 (llama)", "solo"]  # fmt: skip
    assert distinct_names(["d", "d"], ["same", "same"], ["id1", "id2"]) == ["d (id1)", "d (id2)"]
    assert distinct_names([None], [None], ["id9"]) == ["id9"]


def test_error_bodies_read_as_sentences() -> None:
    assert said_text({"error": "please check the api-key you provided"}) == ', "please check the api-key you provided"'
    assert said_text({"error": {"message": "Invalid API key", "type": "auth"}}) == ', "Invalid API key"'
    assert said_text({"detail": "Not authenticated"}) == ', "Not authenticated"'
    assert said_text({"weird": [1, 2]}) == ': {"weird": [1, 2]}'  # JSON, never a Python repr
    assert said_text(None) == ""
    long = said_text({"error": "word " * 60}, limit=40)
    assert long.endswith(' …"') and len(long) <= 46 and "wor …" not in long  # cut between words
