"""Keys files: the TOML format, the dotenv file of raw keys, and errors that name the line."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from batch_helpers import canary, write_private

from testkey_nb.batch.keysfile import KeyEntry, KeysFileError, check_label, load_keys_env, load_keys_file

GOOD = """\
# acme's keys
[keys.acme-prod]
ref = "env:ACME_KEY"
claim = "openai"
base_url = "https://api.example.com/v1"

[keys."beta.2"]
ref = "file:keys/beta.key"
management_url = "http://127.0.0.1:9/v1"
allow_billable = true
"""


def write(tmp_path: Path, text: str, name: str = "keys.toml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_batch_keysfile_good(tmp_path: Path) -> None:
    entries = load_keys_file(write(tmp_path, GOOD))
    assert [e.label for e in entries] == ["acme-prod", "beta.2"]
    acme, beta = entries
    assert acme == KeyEntry("acme-prod", "env:ACME_KEY", "openai", "https://api.example.com/v1", None, False)
    assert acme.origin and acme.origin.endswith("keys.toml:2")
    # a relative file: path is relative to the keys file, not to the working folder
    assert beta.ref == f"file:{tmp_path / 'keys' / 'beta.key'}"
    assert beta.allow_billable is True and beta.management_url == "http://127.0.0.1:9/v1"


def test_batch_keysfile_defaults_fill_only_missing(tmp_path: Path) -> None:
    acme, beta = load_keys_file(write(tmp_path, GOOD))
    filled = acme.with_defaults(claim="baseten", base_url="http://x/v1", management_url="http://m/v1")
    assert (filled.claim, filled.base_url, filled.management_url) == ("openai", "https://api.example.com/v1",
                                                                      "http://m/v1")  # fmt: skip
    assert beta.with_defaults(base_url="http://x/v1").base_url == "http://x/v1"


@pytest.mark.parametrize(
    ("text", "line", "words"),
    [
        ('[keys.a]\nref = "env:A"\n\n[keys.b]\nref = "env:B"\nregion = "eu"\n', 6, "unknown field r…(6 chars)"),
        ('[keys.a]\nref = "env:A"\n[keys.Acme]\nref = "env:B"\n[keys.acme]\nref = "env:C"\n', 5, "duplicate label"),
        ('[keys.a]\nref = "env:A"\n\n[keys.b]\nclaim = "openai"\n', 4, "missing ref"),
        ('[keys.a]\nref = "env:A"\nallow_billable = "yes"\n', 3, "must be true or false"),
        ("[keys.a]\nref = 42\n", 2, "must be a string"),
        ('[keys."bad label"]\nref = "env:A"\n', 1, "bad label"),
        ('[keys."-x"]\nref = "env:A"\n', 1, "bad label"),
        ('[keys.index]\nref = "env:A"\n', 1, "reserved"),
        ('[keys.a]\nref = "env:A"\nbase_url = "ftp://host"\n', 3, "http(s) URL"),
        ('[keys.a]\nref = "env:A"\nclaim = "acme-ai"\n', 3, "not a known provider"),
        ('[keys.a]\nref = "env:A"\n\n[defaults]\nclaim = "openai"\n', 4, "unknown top-level entry de…(8 chars)"),
        ('[keys.a]\nref = "env:A"\n[keys.a]\nref = "env:B"\n', 3, "not valid TOML"),
        ('[keys.a]\nref = "env:A\n', 2, "not valid TOML"),
        ('keys.a = "env:A"\n', 1, "must be a table"),
    ],
)
def test_batch_keysfile_errors_name_the_line(tmp_path: Path, text: str, line: int, words: str) -> None:
    path = write(tmp_path, text)
    with pytest.raises(KeysFileError) as info:
        load_keys_file(path)
    message = str(info.value)
    assert message.startswith(f"{path}:"), message
    assert f"line {line}" in message or f"{path}:{line}:" in message, message
    assert words in message, message


def test_batch_keysfile_no_keys(tmp_path: Path) -> None:
    with pytest.raises(KeysFileError, match="no keys"):
        load_keys_file(write(tmp_path, "# nothing\n"))
    with pytest.raises(KeysFileError, match="no such file"):
        load_keys_file(tmp_path / "missing.toml")


@pytest.mark.parametrize("pasted", [canary(1), f"env:{canary(2)}", f"bearer:{canary(3)}"])
def test_batch_keysfile_pasted_key_is_not_echoed(tmp_path: Path, pasted: str) -> None:
    path = write(tmp_path, f'[keys.a]\nref = "{pasted}"\n')
    with pytest.raises(KeysFileError) as info:
        load_keys_file(path)
    message = str(info.value)
    assert f"{path}:2:" in message and "not a key reference" in message
    assert pasted.split(".")[-1] not in message and pasted not in message


# --- dotenv ------------------------------------------------------------------------------------------------


def test_batch_keys_env_good(tmp_path: Path) -> None:
    k1, k2, k3, k4 = (canary(i) for i in range(4))
    text = (
        f"# comment\n\nACME_PROD={k1}\nexport beta_2=\"{k2}\"\nGAMMA='{k3}'  # inline comment\nDELTA={k4} # trailing\n"
    )
    found = load_keys_env(write_private(tmp_path / "keys.env", text))
    assert [label for label, _ in found] == ["acme-prod", "beta-2", "gamma", "delta"]
    assert [s.reveal() for _, s in found] == [k1, k2, k3, k4]
    assert all(k not in repr(found) for k in (k1, k2, k3, k4))


@pytest.mark.parametrize("mode", [0o644, 0o640, 0o604, 0o660])
def test_batch_keys_env_refused_unless_private(tmp_path: Path, mode: int) -> None:
    path = write_private(tmp_path / "keys.env", f"A={canary(0)}\n")
    os.chmod(path, mode)
    with pytest.raises(KeysFileError, match="chmod 600"):
        load_keys_env(path)


@pytest.mark.parametrize(
    ("body", "line", "words"),
    [
        ("A={k}\nnot an assignment\n", 2, "expected NAME=value"),
        ("A={k}\n1BAD={k}\n", 2, "not a variable name"),
        ("A_B={k}\n\na-b={k}\n", 3, "not a variable name"),
        ("A_B={k}\n\nexport a_b={k}\n", 3, "duplicate label …(3 chars)"),
        ('# x\nA="{k}\n', 2, "unclosed quote"),
        ("A='{k}' trailing\n", 1, "text after its quotes"),
        ("A=\n", 1, "is empty"),
        ("A={k} {k}x\n", 1, "white space"),
        ("_A={k}\n", 1, "gives the label …(2 chars)"),
        ("INDEX={k}\n", 1, "reserved"),
    ],
)
def test_batch_keys_env_errors_name_the_line_never_the_value(tmp_path: Path, body: str, line: int, words: str) -> None:
    key = canary(7)
    path = write_private(tmp_path / "keys.env", body.format(k=key))
    with pytest.raises(KeysFileError) as info:
        load_keys_env(path)
    message = str(info.value)
    assert message.startswith(f"{path}:{line}:"), message
    assert words in message, message
    assert key not in message and key.split(".")[1] not in message


def test_batch_keys_env_empty(tmp_path: Path) -> None:
    with pytest.raises(KeysFileError, match="no keys"):
        load_keys_env(write_private(tmp_path / "keys.env", "# only comments\n\n"))


def test_batch_labels() -> None:
    assert check_label("acme-prod") is None and check_label("a") is None and check_label("A.b_c-9") is None
    for bad in ("", "-a", "a-", "a b", "a/b", "../x", "x" * 65, "é"):
        assert check_label(bad), bad


@pytest.mark.parametrize(
    "text",
    [
        '[keys.{k}]\nref = "env:A"\n[keys."{K}"]\nref = "env:B"\n',  # a key as a label, twice (duplicate)
        '[keys.{k}]\nref = "env:A"\nregion = "x"\n',  # a valid-looking label that is a key, and a bad field
        '[keys.a]\nref = "env:A"\nclaim = "{k}"\n',  # a key pasted as the claim
        '[keys.a]\nref = "env:A"\n{k} = "x"\n',  # a key pasted as a field name
    ],
)
def test_batch_keysfile_errors_mask_what_they_quote(tmp_path: Path, text: str) -> None:
    key = "gsk_" + "W7cAnArY" * 6  # Groq's shape: letters, digits and _ (a valid label, a valid TOML key)
    with pytest.raises(KeysFileError) as info:
        load_keys_file(write(tmp_path, text.replace("{k}", key).replace("{K}", key.upper())))
    message = str(info.value)
    assert key not in message and key[4:12] not in message and key.upper()[4:12] not in message, message
    assert f"({len(key)} chars)" in message, message


def test_batch_keys_env_errors_mask_the_variable_name(tmp_path: Path) -> None:
    name = "GSK_" + "W7CANARY" * 6  # a key pasted as the variable name, with a bad value
    path = write_private(tmp_path / "keys.env", f'{name}="unclosed\n')
    with pytest.raises(KeysFileError) as info:
        load_keys_env(path)
    assert name not in str(info.value) and f"({len(name)} chars)" in str(info.value)
