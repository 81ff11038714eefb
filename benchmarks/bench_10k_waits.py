"""10,000 runs waited on at once from one process, with the devserver holding them all active.

The devserver runs in a process of its own (``_server_process``: hold, release, counters
over a pipe), so client and server do not share a GIL. Measures, once every wait is
registered: watch streams open on the server and WatchRuns calls made, RSS growth of the
client per waited run; then, with every run released at once: p99 and worst notice delay
(the server's end time of a run -> its wait returned) and how many waits never returned.
Run with ``python -m benchmarks.bench_10k_waits`` (``make bench`` does).
"""

from __future__ import annotations

import argparse
import asyncio
import time
from typing import Any

from benchmarks._common import (
    bounded,
    machine,
    markdown_table,
    percentile,
    print_table,
    rss_kb,
    stamp,
    verdict,
    write_section,
)
from benchmarks._server_process import ServerProcess

HEADER = ("measure", "value", "target", "met")


async def release(server: ServerProcess, runs: list[Any], rate: float) -> None:
    """Release every held run: all at once (``rate`` 0), or ``rate`` runs per second in tenths of a second."""
    if rate <= 0:
        server.ask("release_all")
        return
    batch = max(1, int(rate / 10))
    for start in range(0, len(runs), batch):
        began = time.perf_counter()
        await asyncio.to_thread(server.ask, "release", [r.name for r in runs[start : start + batch]])
        await asyncio.sleep(max(0.0, 0.1 - (time.perf_counter() - began)))


async def measure(server: ServerProcess, n: int, timeout: float, rate: float) -> list[tuple[str, str, str, str]]:
    from flyte_remote_core import FlyteClient

    async with FlyteClient(server.endpoint, insecure=True) as client:
        task = await client.get_task.aio("sample_tasks.add")
        started = time.perf_counter()
        runs = await bounded(range(n), lambda i: client.run.aio(task, {"x": i, "y": 1}), 64)
        launch_s = time.perf_counter() - started
        await asyncio.to_thread(server.ask, "settle", timeout)  # nothing executes while waits are measured
        watch_calls_before = server.ask("calls", "WatchRuns")
        before = rss_kb()
        told: dict[str, float] = {}

        async def wait(run: Any) -> None:
            await run.wait.aio(quiet=True)
            told[run.name] = time.time()

        pending = [asyncio.ensure_future(wait(r)) for r in runs]
        await asyncio.sleep(max(5.0, n / 1000))  # every wait registered, steady state
        grown_kb = (rss_kb() - before) / n
        streams = server.ask("open_streams")
        watch_calls = server.ask("calls", "WatchRuns") - watch_calls_before
        released = time.time()
        await release(server, runs, rate)
        await asyncio.wait(pending, timeout=timeout)
        for future in pending:
            future.cancel()
        all_told = max(told.values()) - released if told else float("nan")
        ends: dict[str, float] = {}
        for run in await client.list_runs.aio(task_name="sample_tasks.add", limit=n + 100):
            status = run.pb2.action.status
            if status.HasField("end_time"):
                ends[run.name] = status.end_time.ToNanoseconds() / 1e9
        delays = [told[name] - ends[name] for name in told if name in ends]
    lost = n - len(told)
    releasing = "all at once" if rate <= 0 else f"{rate:,.0f} runs/s"
    p99, worst = percentile(delays, 99), max(delays) if delays else float("nan")
    return [
        (f"launch {n:,} runs (64 in flight)", f"{launch_s:.1f} s ({n / launch_s:.0f} runs/s)", "", ""),
        ("open watch streams in steady state", str(streams), "<= 1", verdict(streams <= 1)),
        ("WatchRuns calls for the waits", str(watch_calls), "<= 1", verdict(watch_calls <= 1)),
        ("RSS growth per waited run", f"{grown_kb:.1f} KB", "<= 10 KB", verdict(grown_kb <= 10)),
        ("notice delay p99 / max", f"{p99 * 1000:.0f} / {worst * 1000:.0f} ms", "p99 <= 1 s", verdict(p99 <= 1.0)),
        (f"release ({releasing}) -> every wait told", f"{all_told:.1f} s", "", ""),
        ("waits that never returned", str(lost), "0", verdict(lost == 0)),
    ]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=10_000)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--timeout", type=float, default=300.0, help="seconds to wait for every wait to return")
    parser.add_argument(
        "--release-rate", type=float, default=0.0, help="runs ended per second (0: all at once, the worst case)"
    )
    parser.add_argument("--write-docs", metavar="FILE", default=None, help="write the table into this results file")
    args = parser.parse_args(argv)
    with ServerProcess(workers=args.workers) as server:
        server.ask("hold_all")
        rows = asyncio.run(measure(server, args.runs, args.timeout, args.release_rate))
    ending = "all ending at once" if args.release_rate <= 0 else f"ending at {args.release_rate:,.0f} runs/s"
    title = f"{args.runs:,} runs waited on at once, one process, {ending}"
    print_table(title, rows)
    if args.write_docs:
        body = [f"## {title}", "", f"`python -m benchmarks.bench_10k_waits`, {stamp()}, {machine()}.", ""]
        key = "10k-waits-burst" if args.release_rate <= 0 else "10k-waits-paced"
        write_section(args.write_docs, key, "\n".join(body + markdown_table(HEADER, rows)))
    lost = int(rows[-1][1])
    return 1 if lost else 0  # correctness only: every wait must return


if __name__ == "__main__":
    raise SystemExit(main())
