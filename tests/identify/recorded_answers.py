"""Every recorded or documented answer the tests hold, as identification evidence (no test functions here).

`tests/providers/<id>/answers.yaml` lists, per emulator mode, what the provider's real host answers;
`answer_sets()` turns each (provider, mode) into the exchanges a check would see in the provider's own
scheme: the answers to that mode's key (and the public answers a keyless request gets, e.g. OpenRouter's
/models), each header pattern filled with the smallest value it matches (a value the host really could
send). Baseten's go-vcr recordings are one more set. Nothing here reads the code under test's output.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import yaml
from hypothesis import find, settings
from hypothesis import strategies as st
from identify_evidence_fixtures import RECORDINGS, baseten_exchanges

from testkey_nb.identify.score import HttpEvidence

PROVIDERS_DIR = Path(__file__).resolve().parent.parent / "providers"
#: the modes a key can be in; "none" (no key) answers are public and seen by every mode
KEY_MODES = ("valid", "bad-key", "no-balance", "rate-limited")
ACCEPTED = ("valid", "no-balance", "rate-limited")


@dataclass(frozen=True)
class AnswerSet:
    provider: str
    mode: str
    base_url: str
    exchanges: tuple[HttpEvidence, ...]
    source: str  # where the answers come from (for failure messages)

    @property
    def id(self) -> str:
        return f"{self.provider}-{self.mode}"


@cache
def _sample(pattern: str) -> str:
    """The smallest string the header pattern matches (deterministic: hypothesis shrinks to it)."""
    strategy = st.from_regex(re.compile(pattern), fullmatch=True)
    return str(find(strategy, lambda _: True, settings=settings(database=None, max_examples=200)))


def _probe(method: str, path: str, status: int) -> str:
    if path.rstrip("/").endswith("/models"):
        return "catalog"
    if method == "POST":
        return "auth_check"
    return path.rstrip("/").rsplit("/", 1)[-1] or "probe"


def _exchange(answer: dict[str, Any]) -> HttpEvidence:
    headers = {"content-type": "application/json"}
    headers.update({str(k).lower(): str(v) for k, v in (answer.get("headers") or {}).items()})
    for name, pattern in (answer.get("header_patterns") or {}).items():
        headers[str(name).lower()] = _sample(str(pattern))
    method, path = answer["request"]["method"], answer["request"]["path"]
    status = int(answer["status"])
    return HttpEvidence(_probe(method, path, status), path, status, headers, answer.get("body"), None)


def answer_sets() -> list[AnswerSet]:
    """One set per provider and key mode of every `tests/providers/*/answers.yaml` (the provider's scheme)."""
    out: list[AnswerSet] = []
    for folder in sorted(p for p in PROVIDERS_DIR.iterdir() if (p / "answers.yaml").is_file()):
        data = yaml.safe_load((folder / "answers.yaml").read_text(encoding="utf-8"))
        answers = data["answers"]
        public = [a for a in answers if a["mode"] == "none" and a["status"] < 400]
        for mode in data["modes"]:
            own = [a for a in answers if a["mode"] == mode and a["auth"] == "key"]
            if mode in ACCEPTED and mode != "valid":
                # a valid-key answer to a path this mode has no answer for is what this key gets too
                paths = {(a["request"]["method"], a["request"]["path"]) for a in own}
                own += [a for a in answers if a["mode"] == "valid" and a["auth"] == "key"
                        and (a["request"]["method"], a["request"]["path"]) not in paths]  # fmt: skip
            picked = public + own
            out.append(
                AnswerSet(
                    provider=str(data["provider"]),
                    mode=mode,
                    base_url=str(data["base_url"]),
                    exchanges=tuple(_exchange(a) for a in picked),
                    source=f"tests/providers/{folder.name}/answers.yaml ({', '.join(a['id'] for a in picked)})",
                )
            )
    out.append(
        AnswerSet("baseten", "valid", "https://inference.baseten.co/v1", tuple(baseten_exchanges()),
                  f"{RECORDINGS.relative_to(PROVIDERS_DIR.parent)} (Warmup, bad apiKey, chat)")
    )  # fmt: skip
    return out
