"""Key references and the Secret: parsing, resolution, errors, and that the value never shows."""

from __future__ import annotations

import copy
import logging
import os
import pickle
import string
import traceback

import pytest
from hypothesis import given
from hypothesis import strategies as st

from testkey_nb.secrets import (
    KeyRefError,
    RedactingFilter,
    Secret,
    baseten_key_format,
    mask,
    parse_key_ref,
    redact,
    resolve,
)
from tests.conftest import CANARY_SHAPES

CANARY = "b10_CaNaRy42." + "Zq7" * 10 + "Xy"  # 45 chars, Baseten's new shape
OLD = "AbCd1234." + "k" * 32


def test_canary_has_the_new_baseten_shape() -> None:
    assert len(CANARY) == 45
    assert baseten_key_format(CANARY) == "new"
    assert baseten_key_format(OLD) == "old"
    assert baseten_key_format("sk-proj-abc") is None
    assert baseten_key_format("b10_short.abc") is None


def test_parse_refs() -> None:
    assert str(parse_key_ref("env:BASETEN_API_KEY")) == "env:BASETEN_API_KEY"
    assert parse_key_ref("file:/tmp/k").target == "/tmp/k"
    for bad in ["", "  ", "BASETEN_API_KEY", "vault:x", "env:", "env:1BAD", "env:A-B", CANARY]:
        with pytest.raises(KeyRefError) as err:
            parse_key_ref(bad)
        assert CANARY not in str(err.value)


def test_env_resolution_and_errors() -> None:
    sec = resolve("env:K", {"K": f"  {CANARY}\n"})
    assert sec.reveal() == CANARY
    assert sec.source == "env:K"
    with pytest.raises(KeyRefError, match=r"env:…\(1 chars\) is not set"):
        resolve("env:K", {})
    with pytest.raises(KeyRefError, match="empty"):
        resolve("env:K", {"K": "   "})
    with pytest.raises(KeyRefError, match="white space"):
        resolve("env:K", {"K": "b10_ab cd.ef"})
    with pytest.raises(KeyRefError, match="control"):
        resolve("env:K", {"K": "b10_ab\x07cd"})
    with pytest.raises(KeyRefError, match="non-ASCII"):
        resolve("env:K", {"K": "b10_abcé"})


def test_file_resolution(tmp_path) -> None:
    path = tmp_path / "key"
    path.write_text(f"{CANARY}  \nsecond line ignored\n")
    path.chmod(0o600)
    assert resolve(f"file:{path}").reveal() == CANARY
    path.chmod(0o640)
    with pytest.raises(KeyRefError, match="chmod 600") as err:
        resolve(f"file:{path}")
    assert CANARY not in str(err.value)
    path.chmod(0o604)
    with pytest.raises(KeyRefError, match="group or others"):
        resolve(f"file:{path}")
    with pytest.raises(KeyRefError, match="does not exist"):
        resolve(f"file:{tmp_path / 'missing'}")
    empty = tmp_path / "empty"
    empty.write_text("\n\n")
    empty.chmod(0o600)
    with pytest.raises(KeyRefError, match="empty"):
        resolve(f"file:{empty}")
    with pytest.raises(KeyRefError, match="not a regular file"):
        resolve(f"file:{tmp_path}")


#: canaries in several shapes (tests/conftest.py), plus this file's own Baseten-shaped one
SHAPES = [CANARY, *CANARY_SHAPES]


@pytest.mark.parametrize("key", SHAPES)
def test_a_key_pasted_into_a_reference_is_never_echoed(key: str, tmp_path, monkeypatch) -> None:
    """`env:<the key itself>` and `file:<the key itself>`: the error names the kind and a masked form."""
    monkeypatch.chdir(tmp_path)
    for ref in (f"env:{key}", f"file:{key}", f"file:./{key}", f"file:{tmp_path}/{key}"):
        with pytest.raises(KeyRefError) as err:
            resolve(ref, {})
        text = str(err.value) + "".join(traceback.format_exception(err.value))
        assert key not in text and key[4:24] not in text, text
        kind = ref.split(":", 1)[0]
        assert f"{kind}:" in text and "chars)" in text
    # a readable file named like the key, but open to others: the chmod hint does not name it either
    path = tmp_path / key
    path.write_text("b10_notthecanary.x\n")
    path.chmod(0o644)
    with pytest.raises(KeyRefError, match="group or others") as err:
        resolve(f"file:{path}", {})
    assert key not in str(err.value)


def test_mask_keeps_at_most_four_characters_and_the_length() -> None:
    assert mask("BASETEN_API_KEY") == "BAS…(15 chars)"
    assert mask("b10_" + "x" * 41) == "b10_…(45 chars)"
    assert mask("KEY") == "…(3 chars)"
    assert mask("") == "…(0 chars)"


def test_label_is_stable_and_not_the_key() -> None:
    a, b = Secret(CANARY), Secret(CANARY)
    assert a.label == b.label
    assert a.label.startswith("baseten-") and len(a.label) == len("baseten-") + 6
    assert Secret(OLD).label.startswith("baseten-")
    assert Secret("sk-proj-" + "a" * 40).label.startswith("openai-")
    assert Secret(CANARY).label != Secret(OLD).label
    assert Secret(CANARY).public_prefix == "b10_CaNaRy42"
    assert Secret(OLD).public_prefix == "AbCd1234"
    assert Secret("sk-x").public_prefix is None


def test_secret_never_renders_its_value(caplog) -> None:
    sec = Secret(CANARY)
    renderings = [
        repr(sec),
        str(sec),
        f"{sec}",
        f"{sec!r}",
        f"{sec:>80}",
        "%s" % (sec,),  # noqa: UP031
        "{}".format(sec),  # noqa: UP032
        repr([sec]),
        repr({"k": sec}),
        str((sec,)),
    ]
    for text in renderings:
        assert CANARY not in text
        assert sec.label in text
    with pytest.raises(TypeError) as err:
        pickle.dumps(sec)
    assert CANARY not in str(err.value)
    assert copy.deepcopy(sec) is sec
    logger = logging.getLogger("testkey_nb.test")
    with caplog.at_level(logging.DEBUG):
        logger.info("probing with %s and %r", sec, sec)
        try:
            raise RuntimeError(f"failed for {sec}")
        except RuntimeError:
            logger.exception("boom")
            tb = traceback.format_exc()
    assert CANARY not in caplog.text
    assert CANARY not in tb


@pytest.mark.parametrize("key", SHAPES)
def test_redact_and_logging_filter(caplog, key: str) -> None:
    sec = Secret(key)
    assert redact(f"Authorization: Bearer {key}", [sec]) == f"Authorization: Bearer <secret {sec.label}>"
    logger = logging.getLogger("testkey_nb.test.filter")
    filt = RedactingFilter([sec])
    logger.addFilter(filt)
    try:
        with caplog.at_level(logging.INFO):
            logger.info("raw value leaked: %s", key)
    finally:
        logger.removeFilter(filt)
    assert key not in caplog.text
    assert sec.label in caplog.text


@given(
    st.text(alphabet=string.ascii_letters + string.digits, min_size=16, max_size=40),
    st.sampled_from(["", " ", "\x00", "\x1b", "\t", "\u202e", "\ue000", "é"]),
    st.integers(min_value=0, max_value=16),
)
def test_resolve_never_echoes_bad_input(base: str, bad: str, at: int) -> None:
    value = base[:at] + bad + base[at:]
    try:
        sec = resolve("env:K", {"K": value})
    except KeyRefError as err:
        assert bad, "a clean key must resolve"
        assert base not in str(err)
    else:
        assert base not in repr(sec) and base not in str(sec)


def test_real_environment_lookup(monkeypatch) -> None:
    monkeypatch.setenv("TESTKEY_NB_TEST_KEY", CANARY)
    assert resolve("env:TESTKEY_NB_TEST_KEY") == Secret(CANARY)
    assert os.environ["TESTKEY_NB_TEST_KEY"] == CANARY
