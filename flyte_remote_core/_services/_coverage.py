"""What one watch connection has covered: when it went live, and which runs it told about.

A waiter normally reads its run once the stream is up, since the run may have ended before the
wait began. That read is redundant when the caller holds a state it read itself after the
connection had been live a while and the connection has told nothing about that run since the
read was sent: every later change of the run comes on the stream. What it told before the read
was sent is no newer than the read's answer (the server sent the one before it answered the
other), so a run the stream listed when it opened is covered too. A tell after the read was sent
may have been dispatched before the wait began, with no waiter to take it: that run is read.
:meth:`StreamCoverage.covers` says so.
"""

from __future__ import annotations

import time
from collections import OrderedDict

# A read counts as covered only if the connection had been live this long before the read was
# sent: room for a backend that subscribes to changes just after sending its first batch (a gap
# of milliseconds inside a server; the devserver subscribes first). A quarter of a second keeps
# a wide safety factor and still covers a launch burst after its first moments; a miss would
# cost at most the periodic resync.
LIVE_MARGIN_S = 0.25
TOLD_MAX = 4096  # run names remembered per connection (the newest kept)


class StreamCoverage:
    """Bookkeeping for the current connection of one watch stream (all times ``time.monotonic()``)."""

    __slots__ = ("_forgotten_through", "_told", "live_since")

    def __init__(self) -> None:
        self.live_since: float | None = None
        self._told: OrderedDict[str, float] = OrderedDict()
        self._forgotten_through = 0.0  # the newest time at which a forgotten name was told

    def went_live(self) -> None:
        if self.live_since is None:
            self.live_since = time.monotonic()

    def went_down(self) -> None:
        self.live_since = None
        self._told.clear()
        self._forgotten_through = 0.0

    def told(self, run_name: str, at: float) -> None:
        told = self._told
        told[run_name] = at
        told.move_to_end(run_name)
        if len(told) > TOLD_MAX:
            _, forgotten = told.popitem(last=False)
            self._forgotten_through = max(self._forgotten_through, forgotten)

    def covers(self, run_name: str, read_at: float) -> bool:
        """Whether every change of ``run_name`` after a read sent at ``read_at`` comes on this connection."""
        told_at = self._told.get(run_name)
        return (
            self.live_since is not None
            and self.live_since + LIVE_MARGIN_S <= read_at
            and self._forgotten_through < read_at
            and (told_at is None or told_at < read_at)
        )
