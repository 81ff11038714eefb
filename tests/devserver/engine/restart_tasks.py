"""Tasks for the restart tests (``tests.devserver.engine.restart_tasks``).

``first_attempt_hangs`` hangs on its first attempt (a marker file records that it began)
and returns on the next, so a restart that retries it shows up as a success on attempt 2.
"""

from __future__ import annotations

import os
import time

from flyte_remote_core.devserver import task_options


def quick(x: int) -> int:
    return x * 10


@task_options(retries=1)
def first_attempt_hangs(marker: str, linger: float = 0.0) -> str:
    """Hangs on attempt 1; later attempts stay ``linger`` seconds (as a parent awaiting children would)."""
    if not os.path.exists(marker):
        with open(marker, "w") as f:
            f.write("attempt 1 began\n")
        time.sleep(3600)
    time.sleep(linger)
    return "resumed"


def hangs_without_retries() -> None:
    time.sleep(3600)
