"""The live panel shown by ``wait(quiet=False)``: phase transitions, elapsed time, errors."""

from __future__ import annotations

import time
from typing import Any

from .._phases import Phase

_STYLE = {
    Phase.SUCCEEDED: "green",
    Phase.RECOVERED: "green",
    Phase.FAILED: "red",
    Phase.TIMED_OUT: "red",
    Phase.ABORTED: "yellow",
    Phase.RUNNING: "cyan",
}


class WaitPanel:
    """A rich Live panel; a no-op shell when ``quiet``."""

    def __init__(self, *, run_name: str, url: str | None, quiet: bool) -> None:
        self.run_name = run_name
        self.url = url
        self.quiet = quiet
        self.started = time.monotonic()
        self.transitions: list[tuple[float, Phase]] = []
        self.error: str | None = None
        self._live: Any = None

    def __enter__(self) -> WaitPanel:
        if not self.quiet:
            from rich.console import Console
            from rich.live import Live

            self._live = Live(self._render(), console=Console(stderr=True), refresh_per_second=4, transient=False)
            self._live.__enter__()
        return self

    def __exit__(self, *exc: Any) -> None:
        if self._live is not None:
            self._live.update(self._render())
            self._live.__exit__(*exc)
            self._live = None

    def phase(self, phase: Phase, status: Any = None) -> None:
        self.transitions.append((time.monotonic() - self.started, phase))
        if self._live is not None:
            self._live.update(self._render())

    def fail(self, message: str) -> None:
        self.error = message
        if self._live is not None:
            self._live.update(self._render())

    def _render(self) -> Any:
        from rich.panel import Panel
        from rich.table import Table

        table = Table.grid(padding=(0, 2))
        table.add_column(justify="right", style="dim")
        table.add_column()
        for at, phase in self.transitions:
            table.add_row(f"{at:6.1f}s", f"[{_STYLE.get(phase, 'white')}]{phase.value}[/]")
        elapsed = time.monotonic() - self.started
        table.add_row("elapsed", f"{elapsed:.1f}s")
        if self.url:
            table.add_row("url", self.url)
        if self.error:
            table.add_row("error", f"[red]{self.error}[/]")
        last = self.transitions[-1][1] if self.transitions else Phase.UNSPECIFIED
        return Panel(table, title=f"run {self.run_name}", subtitle=last.value, border_style=_STYLE.get(last, "blue"))
