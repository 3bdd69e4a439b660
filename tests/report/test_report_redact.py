"""Redaction of error text and log records."""

from __future__ import annotations

import logging
import pickle

import pytest

from testkey_nb.report import RenderError, RenderRequest
from testkey_nb.report.redact import REDACTED, RedactingFilter, one_line, redact_text, redacting_logs

SECRET = "s3cr3t-Value-With/Slash+Plus=42"


def test_values_and_their_encoded_forms_are_removed() -> None:
    text = f"raw {SECRET} | repr {SECRET!r} | url s3cr3t-Value-With%2FSlash%2BPlus%3D42 | \x1b[31mcolored\x1b[0m"
    out = redact_text(text, [SECRET], key_shapes=False)
    assert "s3cr3t" not in out
    assert out.count(REDACTED) == 3
    assert "\x1b" not in out and "colored" in out


def test_key_shaped_tokens_are_removed_without_being_listed() -> None:
    out = redact_text("bad key sk-proj-AbC123dEf456GhI789jKl0 and path /usr/lib/python3.11/x.py", [])
    assert "AbC123" not in out and REDACTED in out
    assert "/usr/lib/python3.11/x.py" in out  # ordinary text survives


def test_one_line_redacts_before_cutting() -> None:
    text = "x" * 390 + " " + SECRET + "\nsecond line"
    out = one_line(text, [SECRET])
    assert "\n" not in out and len(out) <= 400
    assert "s3cr3t" not in out and "s3c" not in out


def test_filter_rewrites_records(caplog: pytest.LogCaptureFixture) -> None:
    logger = logging.getLogger("testkey_nb.tests.redact")
    caplog.set_level(logging.DEBUG)
    with redacting_logs([SECRET], [logger.name]):
        logger.debug("content: %s", {"evalue": f"rejected {SECRET}"})
        try:
            raise ValueError(SECRET)
        except ValueError:
            logger.exception("failed")
    logger.debug("after: %s", "plain")
    assert SECRET not in caplog.text and "rejected [redacted]" in caplog.text
    assert logger.filters == []  # detached again


def test_filter_survives_broken_format() -> None:
    record = logging.LogRecord("x", logging.INFO, __file__, 1, "%d " + SECRET, ("not-a-number",), None)
    assert RedactingFilter([SECRET]).filter(record)
    assert SECRET not in record.getMessage()


def test_render_error_and_request_never_show_secrets(tmp_path: object) -> None:
    err = RenderError("label", "reason")
    assert str(err) == "label: reason" and (err.label, err.reason) == ("label", "reason")
    again = pickle.loads(pickle.dumps(err))
    assert (again.label, again.reason) == ("label", "reason")
    req = RenderRequest(
        notebook=__file__,  # type: ignore[arg-type]
        out_html=__file__,  # type: ignore[arg-type]
        parameters={"key_env": "K"},
        kernel_env={"K": SECRET},
        redact=[SECRET],
        label="l",
    )
    assert SECRET not in repr(req) and SECRET not in str(req)
    assert req.secret_values() == (SECRET,)
