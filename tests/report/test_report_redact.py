"""Redaction of error text and log records."""

from __future__ import annotations

import logging
import pickle

import pytest

from testkey_nb.report import RenderError, RenderRequest
from testkey_nb.report.redact import REDACTED, RedactingFilter, one_line, redact_text, redacting_logs
from tests.conftest import CANARY_SHAPES

#: every shape (CANARY_SHAPES) plus one with characters that URL-quoting and JSON escaping change
SHAPES = (*CANARY_SHAPES, "s3cr3t-Value-With/Slash+Plus=42")
SECRET = SHAPES[-1]


@pytest.mark.parametrize("secret", SHAPES)
def test_values_and_their_encoded_forms_are_removed(secret: str) -> None:
    from urllib.parse import quote

    text = f"raw {secret} | repr {secret!r} | url {quote(secret, safe='')} | \x1b[31mcolored\x1b[0m"
    out = redact_text(text, [secret], key_shapes=False)  # the value redactor alone, no key-shape regex
    assert secret not in out and secret[4:20] not in out
    assert out.count(REDACTED) == 3
    assert "\x1b" not in out and "colored" in out


def test_the_key_shape_regex_alone_misses_the_random_canary() -> None:
    """Why the shapes matter: without the value, the regex would leave the digit-free canary in place."""
    random40 = CANARY_SHAPES[-1]
    assert random40 in redact_text(f"bad key {random40}", [])


def test_key_shaped_tokens_are_removed_without_being_listed() -> None:
    out = redact_text("bad key sk-proj-AbC123dEf456GhI789jKl0 and path /usr/lib/python3.11/x.py", [])
    assert "AbC123" not in out and REDACTED in out
    assert "/usr/lib/python3.11/x.py" in out  # ordinary text survives


@pytest.mark.parametrize("secret", SHAPES)
def test_one_line_redacts_before_cutting(secret: str) -> None:
    text = "x" * 390 + " " + secret + "\nsecond line"
    out = one_line(text, [secret])
    assert "\n" not in out and len(out) <= 400
    assert secret[:6] not in out


@pytest.mark.parametrize("secret", SHAPES)
def test_filter_rewrites_records(caplog: pytest.LogCaptureFixture, secret: str) -> None:
    logger = logging.getLogger("testkey_nb.tests.redact")
    caplog.set_level(logging.DEBUG)
    with redacting_logs([secret], [logger.name]):
        logger.debug("content: %s", {"evalue": f"rejected {secret}"})
        try:
            raise ValueError(secret)
        except ValueError:
            logger.exception("failed")
    logger.debug("after: %s", "plain")
    assert secret not in caplog.text and "rejected [redacted]" in caplog.text
    assert logger.filters == []  # detached again


@pytest.mark.parametrize("secret", SHAPES)
def test_filter_survives_broken_format(secret: str) -> None:
    record = logging.LogRecord("x", logging.INFO, __file__, 1, "%d " + secret, ("not-a-number",), None)
    assert RedactingFilter([secret]).filter(record)
    assert secret not in record.getMessage()


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
