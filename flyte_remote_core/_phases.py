"""Action phases: names, the terminal set, and what counts as success."""

from __future__ import annotations

import enum


class Phase(str, enum.Enum):
    """The phase of a run or action, by its short name (``Phase.SUCCEEDED == "SUCCEEDED"``)."""

    UNSPECIFIED = "UNSPECIFIED"
    QUEUED = "QUEUED"
    WAITING_FOR_RESOURCES = "WAITING_FOR_RESOURCES"
    INITIALIZING = "INITIALIZING"
    RUNNING = "RUNNING"
    SUCCEEDED = "SUCCEEDED"
    FAILED = "FAILED"
    ABORTED = "ABORTED"
    TIMED_OUT = "TIMED_OUT"
    PAUSED = "PAUSED"
    RECOVERED = "RECOVERED"

    def __str__(self) -> str:
        return self.value

    @property
    def raw(self) -> int:
        return _RAW[self]

    @property
    def is_terminal(self) -> bool:
        return self in TERMINAL

    @property
    def is_success(self) -> bool:
        return self in SUCCESS

    @classmethod
    def from_raw(cls, raw: int) -> Phase:
        return _BY_RAW.get(int(raw), cls.UNSPECIFIED)

    @classmethod
    def parse(cls, value: str | int | Phase) -> Phase:
        """Accept ``"succeeded"``, ``"ACTION_PHASE_SUCCEEDED"``, the raw number, or a Phase."""
        if isinstance(value, Phase):
            return value
        if isinstance(value, int):
            return cls.from_raw(value)
        name = str(value).strip().upper()
        name = name.removeprefix("ACTION_PHASE_")
        try:
            return cls(name)
        except ValueError:
            valid = ", ".join(p.value for p in cls if p is not cls.UNSPECIFIED)
            raise ValueError(f"unknown phase {value!r}; expected one of {valid}") from None


_ORDER = list(Phase)
_RAW = {phase: index for index, phase in enumerate(_ORDER)}
_BY_RAW = {index: phase for phase, index in _RAW.items()}

TERMINAL = frozenset({Phase.SUCCEEDED, Phase.FAILED, Phase.ABORTED, Phase.TIMED_OUT, Phase.RECOVERED})
SUCCESS = frozenset({Phase.SUCCEEDED, Phase.RECOVERED})
