"""Client benchmarks against the embedded devserver on this machine.

Measures: notice latency (the server marks a run terminal -> wait() returns), launch
throughput from one process, 2,000 concurrent waits against a devserver limited to 100
concurrent streams per connection (every end noticed within 1 s, RSS growth per run),
and the import time of ``flyte_remote_core``. Prints a table; run with
``python -m benchmarks.bench_client``.
"""

from __future__ import annotations

import argparse
import asyncio
import subprocess
import sys
import tempfile
import time

from benchmarks._common import bounded, percentile, print_table, rss_kb, verdict


def terminal_at(run) -> float:
    """When the server marked the run terminal (its status end_time), in epoch seconds."""
    return run.pb2.action.status.end_time.ToNanoseconds() / 1e9


def import_time() -> float:
    best = float("inf")
    for _ in range(5):
        out = subprocess.run(
            [
                sys.executable,
                "-c",
                "import time; t=time.perf_counter(); import flyte_remote_core; print(time.perf_counter()-t)",
            ],
            capture_output=True,
            text=True,
            check=True,
        )
        best = min(best, float(out.stdout.strip()))
    return best


async def notice_latency(server, client, samples: int) -> list[float]:
    """Hold runs in RUNNING, release one, time until its wait() returns."""
    latencies = []
    server.admin.hold(all_new_runs=True)
    runs = [await client.run.aio("sample_tasks.add", {"x": i, "y": 1}) for i in range(samples)]
    for run in runs:
        await run.wait.aio(quiet=True, wait_for="running")
    for run in runs:
        waiter = asyncio.ensure_future(run.wait.aio(quiet=True))
        await asyncio.sleep(0.02)
        await asyncio.to_thread(server.admin.release, run.name)
        await waiter
        latencies.append(time.time() - terminal_at(run))
    server.admin.release_all()
    return latencies


async def launch_throughput(client, n: int, concurrency: int) -> float:
    task = await client.get_task.aio("sample_tasks.add")
    start = time.perf_counter()
    await bounded(range(n), lambda i: client.run.aio(task, {"x": i, "y": 1}), concurrency)
    return n / (time.perf_counter() - start)


async def concurrent_waits(server, client, n: int) -> tuple[float, float, float, int]:
    """n runs held in RUNNING, n waits, release all; returns (p99 notice s, max s, RSS KB/run, stalled)."""
    task = await client.get_task.aio("sample_tasks.add")
    server.admin.hold(all_new_runs=True)
    runs = await bounded(range(n), lambda i: client.run.aio(task, {"x": i, "y": 1}), 32)
    rss_before = rss_kb()
    ended: dict[str, float] = {}

    async def wait(run) -> None:
        await run.wait.aio(quiet=True, timeout=300)
        ended[run.name] = time.time() - terminal_at(run)

    waits = [asyncio.ensure_future(wait(r)) for r in runs]
    await asyncio.sleep(2.0)  # every wait registered and streaming
    rss_during = rss_kb()
    # All runs are released at once (from another thread, so this loop stays free). Each
    # delay runs from the moment the server marked that run terminal (its end_time) to the
    # moment its wait() returned, so the server's own time to finish 2,000 runs, which
    # staggers the end times, is not charged to the client.
    await asyncio.to_thread(server.admin.release_all)
    await asyncio.gather(*waits)
    delays = list(ended.values())
    stalled = sum(1 for d in delays if d > 1.0)
    return percentile(delays, 99), max(delays), (rss_during - rss_before) / n, stalled


async def main_async(args) -> list[tuple[str, str, str, str]]:
    from flyte_remote_core.devserver import DevServer

    rows = []
    with (
        tempfile.TemporaryDirectory() as tmp,
        DevServer(tasks=["tests.devserver.sample_tasks"], port=0, data_dir=tmp, max_concurrent_streams=100) as server,
    ):
        client = server.client()
        lat = await notice_latency(server, client, args.latency_samples)
        p50, p99 = percentile(lat, 50) * 1000, percentile(lat, 99) * 1000
        rows.append(("notice latency p50 / p99", f"{p50:.1f} / {p99:.1f} ms", "p99 <= 50 ms", verdict(p99 <= 50)))
        rate = await launch_throughput(client, args.launches, args.concurrency)
        rows.append(("launch throughput (one process)", f"{rate:.0f} runs/s", ">= 100 runs/s", verdict(rate >= 100)))
        p99w, worst, kb_per_run, stalled = await concurrent_waits(server, client, args.waits)
        rows.append(
            (
                f"{args.waits} concurrent waits, 100-stream limit: p99 / max notice",
                f"{p99w * 1000:.0f} / {worst * 1000:.0f} ms",
                "all within 1 s",
                verdict(worst <= 1.0),
            )
        )
        rows.append(("  waits told later than 1 s", str(stalled), "0", verdict(stalled == 0)))
        rows.append(("  RSS growth per waited run", f"{kb_per_run:.1f} KB", "<= 20 KB", verdict(kb_per_run <= 20)))
        await client.aclose()
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--latency-samples", type=int, default=50)
    parser.add_argument("--launches", type=int, default=500)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--waits", type=int, default=2000)
    args = parser.parse_args()
    rows = asyncio.run(main_async(args))
    t = import_time()
    rows.append(("import flyte_remote_core", f"{t * 1000:.0f} ms", "<= 300 ms", verdict(t <= 0.3)))
    print_table("flyte_remote_core client benchmarks", rows)


if __name__ == "__main__":
    main()
