"""What a ``watch_runs`` subscription remembers: the last phase it saw per run, so each change
is reported once, however it arrives (the stream, a resync after a reconnect, a poll).
The stream and the resyncs that feed it are in ``_watcher``.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from typing import Any, NamedTuple

from .._phases import Phase

# How old a run first seen by a resync must have ended to count as known (generous: clocks of
# client and server differ), and the per-subscriber memory of runs.
_ENDED_BEFORE_MARGIN_S = 30.0
_KNOWN_CAP = 100_000
# Within one attempt phases only move forward (PAUSED and RUNNING may alternate).
_RANK = {
    Phase.QUEUED: 0,
    Phase.WAITING_FOR_RESOURCES: 1,
    Phase.INITIALIZING: 2,
    Phase.RUNNING: 3,
    Phase.PAUSED: 3,
}


class RunPhaseChange(NamedTuple):
    """What a subscription reports: a run (``run_definition_pb2.Run``) whose root action reached ``phase``.

    ``previous`` is the phase the subscription knew before (None for a run it had not seen);
    ``resynced`` says a re-read after a reconnect (or a poll) found the change, not the stream.
    """

    run: Any
    phase: Phase
    previous: Phase | None
    resynced: bool


class Subscriber:
    """One subscription: the last phase seen per run, and the changes not yet taken."""

    def __init__(self) -> None:
        self.ready = False
        self.began_at = 0.0
        self.known: dict[str, tuple[int, Phase]] = {}  # run name -> (attempts, phase), oldest first
        self.early: list[tuple[Any, bool]] = []  # offered before the baseline was in
        self.queue: asyncio.Queue[RunPhaseChange | BaseException] = asyncio.Queue()

    def begin(self, baseline: Iterable[Any], began_at: float) -> None:
        """Take the baseline as known, then replay what the stream offered meanwhile."""
        self.began_at = began_at
        for run in baseline:
            status = run.action.status
            self._remember(run.action.id.run.name, int(status.attempts), Phase.from_raw(status.phase))
        self.ready = True
        early, self.early = self.early, []
        for run, resynced in early:
            self.offer(run, resynced=resynced)

    def offer(self, run: Any, *, resynced: bool) -> bool:
        """Queue ``run`` if its phase is news to this subscriber; True if it was."""
        if not self.ready:
            self.early.append((run, resynced))
            return False
        status = run.action.status
        phase = Phase.from_raw(status.phase)
        if phase is Phase.UNSPECIFIED:
            return False
        name = run.action.id.run.name
        attempts = int(status.attempts)
        known = self.known.get(name)
        previous: Phase | None = None
        if known is not None:
            known_attempts, previous = known
            if phase is previous or attempts < known_attempts:
                if attempts > known_attempts:
                    self._remember(name, attempts, phase)
                return False
            if attempts == known_attempts and _rank(phase) < _rank(previous):
                return False  # a read older than what the stream already said
        elif (
            phase.is_terminal
            and status.HasField("end_time")
            and _ended_before(status, self.began_at - _ENDED_BEFORE_MARGIN_S)
        ):
            self._remember(name, attempts, phase)  # ended before the subscription began
            return False
        self._remember(name, attempts, phase)
        self.queue.put_nowait(RunPhaseChange(run, phase, previous, resynced))
        return True

    def forget(self, name: str) -> None:
        self.known.pop(name, None)

    def active(self) -> list[str]:
        return [name for name, (_, phase) in self.known.items() if not phase.is_terminal]

    def fail(self, error: BaseException) -> None:
        self.queue.put_nowait(error)

    def _remember(self, name: str, attempts: int, phase: Phase) -> None:
        self.known.pop(name, None)
        self.known[name] = (attempts, phase)
        if len(self.known) > _KNOWN_CAP:  # forget the oldest finished runs, a tenth at a time
            for old in [n for n, (_, p) in self.known.items() if p.is_terminal][: _KNOWN_CAP // 10]:
                del self.known[old]


def _rank(phase: Phase) -> int:
    return 4 if phase.is_terminal else _RANK.get(phase, 0)


def _ended_before(status: Any, moment: float) -> bool:
    end = status.end_time
    return float(end.seconds) + end.nanos / 1e9 < moment
