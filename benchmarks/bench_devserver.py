"""Devserver benchmarks: start-up time and trivial runs executed end to end per second.

"End to end" is launch (SelectCluster, UploadInputs, CreateRun), execution in a worker
process, and the client being told of SUCCEEDED through its shared watcher. The 2,000
concurrent watched runs are measured by ``bench_client``. Run with
``python -m benchmarks.bench_devserver``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator

from benchmarks._common import bounded, percentile, print_table, verdict


def startup_times(samples: int) -> list[float]:
    from flyte_remote_core.devserver import DevServer

    times = []
    for _ in range(samples):
        with tempfile.TemporaryDirectory() as tmp:
            started = time.perf_counter()
            server = DevServer(tasks=["tests.devserver.sample_tasks"], port=0, data_dir=tmp)
            server.start()
            times.append(time.perf_counter() - started)
            server.stop()
    return times


@contextlib.contextmanager
def devserver_process(workers: int) -> Iterator[str]:
    """The CLI in its own process, as users run it: client and server do not share a GIL."""
    with tempfile.TemporaryDirectory() as tmp:
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "flyte_remote_core.devserver",
                "--port",
                "0",
                "--data-dir",
                tmp,
                "--tasks",
                "tests.devserver.sample_tasks",
                "--workers",
                str(workers),
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        try:
            endpoint = ""
            assert proc.stdout is not None
            for line in proc.stdout:
                if line.startswith("endpoint:"):
                    endpoint = line.split(":", 1)[1].strip()
                if "ready" in line:
                    break
            yield endpoint
        finally:
            proc.send_signal(signal.SIGTERM)
            proc.wait(timeout=10)


@contextlib.contextmanager
def devserver_thread(workers: int) -> Iterator[str]:
    from flyte_remote_core.devserver import DevServer

    with (
        tempfile.TemporaryDirectory() as tmp,
        DevServer(tasks=["tests.devserver.sample_tasks"], port=0, data_dir=tmp, workers=workers) as server,
    ):
        yield server.endpoint


async def end_to_end_rate(n: int, concurrency: int, workers: int, in_process: bool) -> float:
    from flyte_remote_core import FlyteClient

    with (devserver_thread if in_process else devserver_process)(workers) as endpoint:
        client = FlyteClient(endpoint, insecure=True)
        task = await client.get_task.aio("sample_tasks.add")

        async def one(i: int) -> None:
            run = await client.run.aio(task, {"x": i, "y": 1})
            await run.wait.aio(quiet=True, timeout=120)
            assert run.phase.is_success, run.phase

        started = time.perf_counter()
        await bounded(range(n), one, concurrency)
        rate = n / (time.perf_counter() - started)
        await client.aclose()
        return rate


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=1000)
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--startups", type=int, default=5)
    args = parser.parse_args()
    starts = startup_times(args.startups)
    rate = asyncio.run(end_to_end_rate(args.runs, args.concurrency, args.workers, in_process=False))
    rate_in = asyncio.run(end_to_end_rate(args.runs, args.concurrency, args.workers, in_process=True))
    p50, worst = percentile(starts, 50), max(starts)
    print_table(
        "devserver benchmarks",
        [
            (
                "start-up (with sample tasks) p50 / max",
                f"{p50 * 1000:.0f} / {worst * 1000:.0f} ms",
                "<= 500 ms",
                verdict(worst <= 0.5),
            ),
            (
                f"trivial runs end to end, server process ({args.runs} runs, {args.workers} workers)",
                f"{rate:.0f} runs/s",
                ">= 100 runs/s",
                verdict(rate >= 100),
            ),
            ("  same, server in the client's process (one GIL)", f"{rate_in:.0f} runs/s", "(for reference)", ""),
        ],
    )


if __name__ == "__main__":
    main()
