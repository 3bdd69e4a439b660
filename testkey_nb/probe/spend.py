"""The spending stop: at most one paid answer per check, whatever the far end accepts.

:class:`SpendStop` is shared by every engine (scheme trial) of one check; :class:`SpendGate` is one
engine's door in front of it (the pilot rule); :class:`NotSent` is what a call stopped at the door
raises before it leaves. The engine (:mod:`testkey_nb.probe.engine`) asks the gate before every
refused-by-design or billable send.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass

__all__ = ["NotSent", "SpendGate", "SpendStop"]


class NotSent(Exception):
    """A refused-by-design or billable request stopped before it left: an earlier one was accepted."""


@dataclass
class SpendStop:
    """The spending stop of one check, shared by every engine (scheme trial) of that check: once a
    refused-by-design call was answered (it cost money), ``spent_by`` names it and no engine sends
    another ``rejected`` or ``billable`` request.

    ``refused(probe, body)``: True when an HTTP 2xx answer's JSON body says the call was refused (a
    provider's error envelope, MiniMax's ``base_resp.status_code`` != 0): the model did not run, nothing
    was spent, and the stop stays open (the key may still be read in another scheme)."""

    spent_by: str | None = None
    refused: Callable[[str, object], bool] | None = None


class SpendGate:
    """Spending stops at the first accepted call.

    The first refused-by-design (or billable) exchange of a session is a pilot: every other one waits
    until it has come back, so a far end that accepts such calls gets exactly one. A pilot answered 404
    (its placeholder model is unknown there) says nothing about whether the far end refuses a call built
    to be refused, so the next call is a pilot too (a far end that refuses the placeholder but answers
    real models still gets exactly one). Once a ``rejected`` call came back 2xx (answered: it cost
    money), no ``rejected`` or ``billable`` request is sent again, by this engine or any other sharing
    the same :class:`SpendStop`.
    """

    def __init__(self, stop: SpendStop | None = None) -> None:
        self._stop = stop if stop is not None else SpendStop()
        self._pilot_taken = False
        self._open = False
        self._pilot_back = asyncio.Event()

    async def enter(self) -> bool:
        """Wait until this exchange may start; True when it is a pilot."""
        while not self._open:
            if not self._pilot_taken:
                self._pilot_taken = True
                self._pilot_back.clear()
                return True
            await self._pilot_back.wait()
        return False

    def pilot_back(self, status: int | None) -> None:
        """The pilot came back with ``status``: a 404 re-arms the pilot, anything else opens the gate."""
        if status == 404:
            self._pilot_taken = False
        else:
            self._open = True
        self._pilot_back.set()

    @property
    def spent_by(self) -> str | None:
        return self._stop.spent_by

    def refused(self, probe: str, body: object) -> bool:
        """An HTTP 2xx answer to ``probe`` whose body is a refusal (see :class:`SpendStop`): not spent."""
        judge = self._stop.refused
        return judge is not None and judge(probe, body)

    def spent(self, by: str) -> None:
        self._stop.spent_by = self._stop.spent_by or by

    def check(self) -> None:
        """Raise :class:`NotSent` when an earlier call was accepted; called right before every send."""
        if self.spent_by is not None:
            raise NotSent(
                f"not sent: {self.spent_by} was accepted and answered (it cost money); no further model call "
                "is sent in this run"
            )
