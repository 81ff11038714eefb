"""The admin operations, on the engine's holds and attempts, the control and the hub.

Every method runs on the server's event loop (the in-process handle and the wire
service both get there first).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ..engine.actions import ActionStore
from ..engine.attempts import Attempts
from ..engine.events import Hub
from ..engine.holds import Holds
from .control import Control, StatusLike


@dataclass(eq=False, kw_only=True)
class AdminOps:
    holds: Holds
    attempts: Attempts
    actions: ActionStore
    control: Control
    hub: Hub
    data_dir: str  # for status()
    endpoint: str

    def hold(self, run_names: list[str], all_new_runs: bool) -> None:
        self.holds.hold(run_names, all_new_runs)

    def release(self, run_names: list[str] | None) -> int:
        return self.attempts.release(run_names)

    def fail_next(self, method: str, code: StatusLike, count: int, message: str) -> None:
        self.control.fail_next(method, code, count, message)

    def clear_faults(self) -> None:
        self.control.clear_faults()

    def drop_streams(self, message: str = "") -> int:
        return self.hub.drop_all(message or "stream dropped by the devserver admin API; reconnect")

    def counters(self) -> dict[str, int]:
        return self.control.counts()

    def call_count(self, method: str) -> int:
        return self.control.count(method)

    def reset_counters(self) -> None:
        self.control.reset_counters()

    def status(self) -> dict[str, Any]:
        return {
            "open_streams": self.control.open_streams,
            "held_runs": sorted(self.holds.held),
            "hold_all_new_runs": self.holds.hold_all,
            "data_dir": self.data_dir,
            "endpoint": self.endpoint,
            "runs": self.actions.count_runs(),
            "jobs_in_flight": self.attempts.queue.in_flight,
        }
