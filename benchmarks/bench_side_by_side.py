"""Our client and the official Flyte 2 SDK side by side, against one devserver.

Each measure runs in a fresh process per client (``side_by_side_driver.py``: ours under this
Python, the SDK under ``.venv-sdk``, ``make install-sdk``), interleaved over ``--rounds``, and
the table shows the ratio ours / SDK next to the goal of issue 14. One devserver serves both,
in a process of its own (``_server_process``: it holds and releases runs on request), so
neither the harness nor a client shares its GIL.

A round runs each measure for ours and then for the SDK, back to back; the ratio is the
median of the rounds' ratios, so a slow stretch of this shared machine weighs on both sides
of a pair and not on the result. Percentiles are taken over every round's samples at once.

``--write-docs FILE`` writes the table as Markdown with the machine and the date: the results
in the docs come from such a run, never typed by hand. Run with
``python -m benchmarks.bench_side_by_side`` (``make bench`` does).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from benchmarks._common import bounded, machine, markdown_table, mean, percentile, stamp, verdict, write_section
from benchmarks._server_process import ServerProcess

REPO = Path(__file__).resolve().parents[1]
DRIVER = str(Path(__file__).with_name("side_by_side_driver.py"))
PYTHONS = {"ours": sys.executable, "sdk": str(REPO / ".venv-sdk" / "bin" / "python")}


@dataclass
class Measure:
    """One row: samples per client, how to read them, and the goal on the ratio ours / SDK."""

    name: str
    unit: str
    higher_is_better: bool
    goal: float
    samples: dict[str, list[float]] = field(default_factory=lambda: {"ours": [], "sdk": []})

    def value(self, kind: str) -> float:
        # The median of the rounds: one round slowed by a noisy neighbour does not move it.
        return statistics.median(self.samples[kind]) if self.samples[kind] else float("nan")

    def ratio(self) -> float:
        """The median of the per-round ratios ours / SDK (each pair ran back to back)."""
        pairs = [o / s for o, s in zip(self.samples["ours"], self.samples["sdk"], strict=True) if s]
        return statistics.median(pairs) if pairs else float("nan")

    def met(self) -> bool:
        ratio = self.ratio()
        return ratio >= self.goal if self.higher_is_better else ratio <= self.goal

    def goal_text(self) -> str:
        return f"{'>=' if self.higher_is_better else '<='} {self.goal:g}"


# grpc's EventEngine client (grpcio >= 1.80) reads on threads of its own and hands each message
# on through the asyncio poller's thread; with it off, that poller reads the socket itself. A
# process-wide switch our client leaves to its users (README, "Lower wait latency"): measured
# beside the default, not instead of it.
EVENT_ENGINE_CLIENT_OFF = {"GRPC_EXPERIMENTS": "-event_engine_client"}


class Driver:
    """A driver process for one client and one command, speaking JSON lines."""

    def __init__(self, kind: str, endpoint: str, *args: str, env: dict[str, str] | None = None) -> None:
        env = dict(os.environ, PYTHONPATH=str(REPO) if kind == "ours" else "", NO_COLOR="1", **(env or {}))
        self.proc = subprocess.Popen(
            [PYTHONS[kind], DRIVER, kind, endpoint, *args],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            env=env,
            cwd=tempfile.gettempdir(),
        )

    def send(self, line: str) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write(line + "\n")
        self.proc.stdin.flush()

    def read(self) -> dict[str, Any]:
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()
        if not line:
            raise RuntimeError(f"driver {self.proc.args} ended (exit {self.proc.wait()})")
        result: dict[str, Any] = json.loads(line)
        return result

    def finish(self) -> None:
        if self.proc.stdin is not None:
            self.proc.stdin.close()
        if self.proc.wait(timeout=600) != 0:
            raise RuntimeError(f"driver {self.proc.args} failed with exit {self.proc.returncode}")


def one_shot(kind: str, endpoint: str, *args: str) -> dict[str, Any]:
    driver = Driver(kind, endpoint, *args)
    result = driver.read()
    driver.finish()
    return result


class Bench:
    def __init__(self, server: ServerProcess) -> None:
        self.server = server
        self.endpoint: str = server.endpoint

    def settle(self, timeout: float = 300.0) -> None:
        """Wait until the devserver executes nothing (held runs' tasks run on after their launch)."""
        self.server.ask("settle", timeout)

    def held_runs(self, n: int) -> list[str]:
        """n runs of sample_tasks.add kept RUNNING by the server until released."""
        from flyte_remote_core import FlyteClient

        self.server.ask("hold_all")

        async def launch_all() -> list[str]:
            async with FlyteClient(self.endpoint, insecure=True) as client:
                task = await client.get_task.aio("sample_tasks.add")
                runs = await bounded(range(n), lambda i: client.run.aio(task, {"x": i, "y": 1}), 32)
                return [str(run.name) for run in runs]

        return asyncio.run(launch_all())

    def end_times(self, names: list[str]) -> dict[str, float]:
        """The server's end time of each run (read run by run: a listing would have to page
        through the tens of thousands of runs the rounds launched)."""
        from flyte_remote_core import FlyteClient

        async def read_all() -> dict[str, float]:
            async with FlyteClient(self.endpoint, insecure=True) as client:
                runs = await bounded(names, client.get_run.aio, 32)
            statuses = [run.pb2.action.status for run in runs]
            ended = zip(names, statuses, strict=True)
            return {n: st.end_time.ToNanoseconds() / 1e9 for n, st in ended if st.HasField("end_time")}

        found = asyncio.run(read_all())
        missing = set(names) - set(found)
        if missing:
            raise RuntimeError(f"{len(missing)} runs have no end time, e.g. {sorted(missing)[:3]}")
        return found

    def sequential_notice(self, kind: str, n: int, env: dict[str, str] | None = None) -> list[float]:
        names = self.held_runs(n)
        self.settle()  # all RUNNING, their tasks done: nothing executes while notices are timed
        driver = Driver(kind, self.endpoint, "sequential", env=env)
        done: dict[str, float] = {}
        for name in names:
            driver.send(name)
            assert driver.read()["waiting"] == name
            self.server.ask("release", [name])
            reply = driver.read()
            done[reply["done"]] = reply["t"]
        driver.finish()
        ends = self.end_times(names)
        return [done[name] - ends[name] for name in names]

    def concurrent_waits(self, kind: str, n: int) -> tuple[list[float], float, float]:
        """(notice delays, release -> all told in s, RSS KB per waited run)."""
        names = self.held_runs(n)
        self.settle()
        driver = Driver(kind, self.endpoint, "waits")
        driver.send(json.dumps(names))
        ready = driver.read()
        released = time.time()
        self.server.ask("release", names)
        done = driver.read()["done"]
        driver.finish()
        if set(done) != set(names):
            raise RuntimeError(f"{kind}: {len(set(names) - set(done))} waits never returned")
        ends = self.end_times(names)
        return [done[name] - ends[name] for name in names], max(done.values()) - released, ready["rss_kb"] / n


def devserver_start_seconds() -> float:
    """Spawn the CLI as users run it, until it says it is ready."""
    with tempfile.TemporaryDirectory() as tmp:
        started = time.perf_counter()
        proc = subprocess.Popen(
            [sys.executable, "-m", "flyte_remote_core.devserver", "--port", "0", "--data-dir", tmp],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            env=dict(os.environ, PYTHONPATH=str(REPO)),
        )
        assert proc.stdout is not None
        for line in proc.stdout:
            if "ready" in line:
                break
        elapsed = time.perf_counter() - started
        proc.terminate()
        proc.wait(timeout=10)
        return elapsed


def order(round_number: int) -> tuple[str, str]:
    """Who goes first alternates: the server's state grows with every run launched, so the first
    of a pair would otherwise always meet the emptier server."""
    return ("ours", "sdk") if round_number % 2 == 0 else ("sdk", "ours")


def run(args: argparse.Namespace) -> tuple[list[Measure], list[tuple[str, str, str, str]]]:
    m = {
        "p50": Measure("notice latency p50 (run ends -> waiter returns)", "ms", False, 0.8),
        "p99": Measure("notice latency p99, sequential waits", "ms", False, 0.8),
        "seq": Measure("launches/s, sequential", "runs/s", True, 1.5),
        "par": Measure("launches/s, 32 in flight", "runs/s", True, 1.5),
        "wp99": Measure(f"{args.waits:,} concurrent waits: p99 notice", "ms", False, 0.8),
        "wall": Measure(f"{args.waits:,} concurrent waits: release -> all told", "s", False, 0.5),
        "rss": Measure("RSS growth per waited run", "KB", False, 0.5),
        "size": Measure("site-packages of a core install", "MB", False, 0.5),
        "fresh": Measure("fresh process: import + init + first call", "ms", False, 0.5),
        "e2e": Measure("trivial runs end to end per second (32 in flight)", "runs/s", True, 1.5),
    }
    absolute: list[tuple[str, str, str, str]] = []
    kinds = ("ours", "sdk")
    with ServerProcess(workers=2, max_concurrent_streams=100) as server:
        bench = Bench(server)
        for r in range(args.rounds):  # end to end first: nothing is held yet
            for kind in order(r):
                bench.settle()
                m["e2e"].samples[kind].append(one_shot(kind, bench.endpoint, "e2e", str(args.e2e), "32")["rate"])
        # Percentiles are taken over every round's samples together (a p99 of 40 samples is
        # their maximum); the other measures are one value per round.
        notices: dict[str, list[float]] = {kind: [] for kind in kinds}
        opt_in_notices: list[float] = []
        wait_delays: dict[str, list[float]] = {kind: [] for kind in kinds}
        for r in range(args.rounds):
            bench.settle()
            opt_in_notices += bench.sequential_notice("ours", args.sequential, env=EVENT_ENGINE_CLIENT_OFF)
            for kind in order(r):
                bench.settle()
                notices[kind] += bench.sequential_notice(kind, args.sequential)
                # As many sequential launches as concurrent ones: a third (about one second)
                # swung the sequential ratio by a fifth from round to round.
                for key, n, conc in (("seq", args.launches, 1), ("par", args.launches, 32)):
                    # Held runs stay RUNNING, but their tasks still execute: settle first, so no
                    # measure pays for the executions the one before it launched.
                    server.ask("hold_all")
                    bench.settle()
                    m[key].samples[kind].append(one_shot(kind, bench.endpoint, "launch", str(n), str(conc))["rate"])
                    # Then let them end: tens of thousands of runs held RUNNING across the rounds
                    # made the server's full garbage collections 100-190 ms long, and every later
                    # measure paid for the launches of the ones before it.
                    server.ask("release_all")
                bench.settle()
                delays, wall, kb = bench.concurrent_waits(kind, args.waits)
                wait_delays[kind] += delays
                m["wall"].samples[kind].append(wall)
                m["rss"].samples[kind].append(kb)
                m["fresh"].samples[kind].append(one_shot(kind, bench.endpoint, "first_call")["seconds"] * 1000)
        for kind in kinds:
            m["p50"].samples[kind].append(percentile(notices[kind], 50) * 1000)
            m["p99"].samples[kind].append(percentile(notices[kind], 99) * 1000)
            m["wp99"].samples[kind].append(percentile(wait_delays[kind], 99) * 1000)
        for kind, dist in (("ours", "flyte-integrations"), ("sdk", "flyte")):
            m["size"].samples[kind].append(one_shot(kind, bench.endpoint, "size", dist)["bytes"] / 1e6)
    p50, p99 = (percentile(opt_in_notices, p) * 1000 for p in (50, 99))
    sdk_p50, sdk_p99 = (percentile(notices["sdk"], p) * 1000 for p in (50, 99))
    absolute.append(
        (
            "notice latency p50 / p99, ours with GRPC_EXPERIMENTS=-event_engine_client (opt-in)",
            f"{p50:.2f} / {p99:.2f} ms ({p50 / sdk_p50:.2f} / {p99 / sdk_p99:.2f} of the SDK's)",
            "none (not the default)",
            "-",
        )
    )
    starts = [devserver_start_seconds() for _ in range(args.rounds * 2)]
    absolute.append(
        (
            "devserver start to ready (CLI process), mean / max",
            f"{mean(starts) * 1000:.0f} / {max(starts) * 1000:.0f} ms",
            "<= 500 ms",
            verdict(max(starts) <= 0.5),
        )
    )
    return list(m.values()), absolute


def fmt(value: float) -> str:
    return f"{value:,.2f}" if abs(value) < 10 else f"{value:,.0f}"


def table_rows(measures: list[Measure]) -> list[list[str]]:
    return [
        [x.name, f"{fmt(x.value('ours'))} {x.unit}", f"{fmt(x.value('sdk'))} {x.unit}", f"{x.ratio():.2f}",
         x.goal_text(), verdict(x.met())]
        for x in measures
    ]  # fmt: skip


HEADER = ["measure", "ours", "official SDK", "ratio ours/SDK", "goal", "met"]


def markdown(measures: list[Measure], absolute: list[tuple[str, str, str, str]], args: argparse.Namespace) -> str:
    from importlib.metadata import version

    sdk_version = subprocess.run(
        [PYTHONS["sdk"], "-c", "import importlib.metadata as m; print(m.version('flyte'))"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    lines = [
        "## Our client and the official SDK, side by side",
        "",
        f"`python -m benchmarks.bench_side_by_side`, {stamp()}, {machine()}; "
        f"flyte-integrations {version('flyte-integrations')}, flyte {sdk_version}; "
        f"{args.rounds} interleaved rounds against one devserver in a process of its own (2 workers, 100 "
        "streams per connection); values are the median of the rounds (percentiles: over all rounds' samples), "
        "the ratio is the median of the rounds' ratios ours / SDK.",
        "",
        *markdown_table(HEADER, table_rows(measures)),
        "",
        *markdown_table(["measure", "value", "goal", "met"], absolute),
    ]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--sequential", type=int, default=100, help="sequential waits per round")
    parser.add_argument("--launches", type=int, default=1200, help="launches per round, each way")
    parser.add_argument("--waits", type=int, default=2000, help="concurrent waits")
    parser.add_argument("--e2e", type=int, default=600, help="runs end to end")
    parser.add_argument("--write-docs", metavar="FILE", default=None)
    args = parser.parse_args(argv)
    if not Path(PYTHONS["sdk"]).exists():
        print(f"the official SDK is not installed in {PYTHONS['sdk']}: run `make install-sdk`", file=sys.stderr)
        return 2
    measures, absolute = run(args)
    from rich.console import Console
    from rich.table import Table

    table = Table(title="our client / the official SDK, side by side")
    for column in HEADER:
        table.add_column(column)
    for row in table_rows(measures):
        table.add_row(*row)
    for name, value, goal, met in absolute:
        table.add_row(name, value, "", "", goal, met)
    Console(width=150).print(table)
    if args.write_docs:
        write_section(args.write_docs, "side-by-side", markdown(measures, absolute, args))
        print(f"wrote {args.write_docs}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
