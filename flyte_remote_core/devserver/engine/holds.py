"""Held runs (test control): a held run stays RUNNING until released.

While a run is held, the end its attempt reached is stashed here instead of being
applied; :meth:`Holds.release` hands the stashed ends back so they can be applied.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from flyteidl2.workflow import run_definition_pb2 as rd

from .model import Key, Phase


@dataclass(frozen=True)
class StashedEnd:
    """The terminal phase an attempt reached while its run was held."""

    attempt: int
    phase: Phase
    error: rd.ErrorInfo | None


@dataclass
class Holds:
    hold_all: bool = False  # hold every run created from now on
    held: set[str] = field(default_factory=set)  # run names
    # run name -> the ended actions of that held run: a release reads only the runs it names
    stashed: dict[str, dict[Key, StashedEnd]] = field(default_factory=dict)

    def hold(self, run_names: list[str], all_new_runs: bool) -> None:
        self.held.update(run_names)
        if all_new_runs:
            self.hold_all = True

    def on_new_run(self, name: str) -> None:
        if self.hold_all:
            self.held.add(name)

    def is_held(self, run: str) -> bool:
        return run in self.held

    def stash(self, key: Key, end: StashedEnd) -> None:
        self.stashed.setdefault(key[2], {})[key] = end

    def drop(self, key: Key) -> None:
        ends = self.stashed.get(key[2])
        if ends is not None:
            ends.pop(key, None)
            if not ends:
                del self.stashed[key[2]]

    def release(self, run_names: list[str] | None) -> tuple[int, list[tuple[Key, StashedEnd]]]:
        """Release the named runs (all, ending "hold all", when None): how many were held, and their stashed ends."""
        if run_names is None:
            names = set(self.held)
            self.hold_all = False
            order = list(self.stashed)  # the runs whose end came first are applied first
        else:
            names = set(run_names) & self.held
            order = [name for name in dict.fromkeys(run_names) if name in names]
        self.held -= names
        return len(names), [item for name in order for item in self.stashed.pop(name, {}).items()]
