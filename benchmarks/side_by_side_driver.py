"""One benchmark client, ours or the official SDK's, driven by ``bench_side_by_side``.

It runs as its own process under either Python (``.venv`` for ours, ``.venv-sdk`` for the
SDK), so it imports nothing from this repository. Both clients do exactly the same work
through the same small adapter; results go to stdout as one JSON object per line.

Usage: python side_by_side_driver.py {ours,sdk} ENDPOINT COMMAND [ARGS]

Commands:
  launch N CONCURRENCY   launch N runs of sample_tasks.add, CONCURRENCY in flight -> {"rate"}
  e2e N CONCURRENCY      launch and wait for N runs -> {"rate"}
  sequential             for each run name read from stdin: wait for it, print {"waiting"},
                         then {"done", "t"} when the wait returned (the caller releases it)
  waits                  read a JSON list of run names from stdin, wait for all at once,
                         print {"ready", "rss_kb"} then {"done": {name: t}, "rss_kb"}
  first_call             import, init and one task lookup -> {"seconds"}
  size DIST              bytes of DIST and everything it requires -> {"bytes"}
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
import time
from importlib import metadata
from typing import Any

PROJECT, DOMAIN, TASK = "flytesnacks", "development", "sample_tasks.add"


def emit(**fields: Any) -> None:
    print(json.dumps(fields), flush=True)


def rss_kb() -> int:
    with open(f"/proc/{os.getpid()}/status") as fh:
        for line in fh:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


class Ours:
    def __init__(self, endpoint: str) -> None:
        from flyte_remote_core import FlyteClient

        self.client = FlyteClient(endpoint, insecure=True, project=PROJECT, domain=DOMAIN)

    async def task(self) -> Any:
        return await self.client.get_task.aio(TASK)

    async def launch(self, task: Any, i: int) -> Any:
        return await self.client.run.aio(task, {"x": i, "y": 1})

    async def get_run(self, name: str) -> Any:
        return await self.client.get_run.aio(name)

    async def wait(self, run: Any) -> None:
        await run.wait.aio(quiet=True)


class Sdk:
    def __init__(self, endpoint: str) -> None:
        import flyte  # type: ignore[import-not-found]
        import flyte.remote  # type: ignore[import-not-found]

        flyte.init(endpoint=endpoint, insecure=True, project=PROJECT, domain=DOMAIN)
        self.flyte = flyte

    async def task(self) -> Any:
        return self.flyte.remote.Task.get(TASK, auto_version="latest")

    async def launch(self, task: Any, i: int) -> Any:
        return await self.flyte.run.aio(task, x=i, y=1)

    async def get_run(self, name: str) -> Any:
        return await self.flyte.remote.Run.get.aio(name)

    async def wait(self, run: Any) -> None:
        await run.wait.aio(quiet=True)


CLIENTS = {"ours": Ours, "sdk": Sdk}


async def bounded(n: int, concurrency: int, one: Any) -> float:
    """Runs ``one(i)`` for i < n with ``concurrency`` in flight; returns calls per second."""
    sem = asyncio.Semaphore(concurrency)

    async def guarded(i: int) -> None:
        async with sem:
            await one(i)

    started = time.perf_counter()
    await asyncio.gather(*(guarded(i) for i in range(n)))
    return n / (time.perf_counter() - started)


async def launch(client: Any, n: int, concurrency: int) -> None:
    task = await client.task()

    async def one(i: int) -> None:
        await client.launch(task, i)

    emit(rate=await bounded(n, concurrency, one))


async def end_to_end(client: Any, n: int, concurrency: int) -> None:
    task = await client.task()

    async def one(i: int) -> None:
        await client.wait(await client.launch(task, i))

    emit(rate=await bounded(n, concurrency, one))


async def sequential(client: Any) -> None:
    loop = asyncio.get_running_loop()
    while line := await loop.run_in_executor(None, sys.stdin.readline):
        run = await client.get_run(line.strip())
        waiter = asyncio.ensure_future(client.wait(run))
        await asyncio.sleep(0.05)  # the wait is established before the run is released
        emit(waiting=run.name)
        await waiter
        emit(done=run.name, t=time.time())


async def waits(client: Any) -> None:
    loop = asyncio.get_running_loop()
    names: list[str] = json.loads(await loop.run_in_executor(None, sys.stdin.readline))
    sem = asyncio.Semaphore(32)

    async def get(name: str) -> Any:
        async with sem:
            return await client.get_run(name)

    runs = await asyncio.gather(*(get(n) for n in names))
    before = rss_kb()
    ended: dict[str, float] = {}

    async def wait(run: Any) -> None:
        await client.wait(run)
        ended[run.name] = time.time()

    pending = [asyncio.ensure_future(wait(r)) for r in runs]
    await asyncio.sleep(3.0)  # every wait registered and streaming
    emit(ready=True, rss_kb=rss_kb() - before)
    await asyncio.gather(*pending)
    emit(done=ended, rss_kb=rss_kb() - before)


def dist_bytes(name: str) -> int:
    """Installed size of a distribution and its requirements (extras not followed)."""
    seen: set[str] = set()
    total = 0
    todo = [name]
    while todo:
        current = todo.pop().lower().replace("_", "-")
        if current in seen:
            continue
        seen.add(current)
        try:
            dist = metadata.distribution(current)
        except metadata.PackageNotFoundError:
            continue
        for file in dist.files or ():
            path = file.locate()
            if os.path.isfile(path):
                total += os.path.getsize(path)
        for req in dist.requires or ():
            if "extra ==" in req:
                continue
            todo.append(req.split(";")[0].split("[")[0].split(" ")[0].split("<")[0].split(">")[0].split("=")[0])
    return total


def main(argv: list[str]) -> None:
    kind, endpoint, command, *args = argv
    if command == "size":
        emit(bytes=dist_bytes(args[0]))
        return
    started = time.perf_counter()
    client = CLIENTS[kind](endpoint)
    if command == "first_call":
        asyncio.run(client.task()) if kind == "ours" else client.flyte.remote.Task.get(
            TASK, auto_version="latest"
        ).fetch()
        emit(seconds=time.perf_counter() - started)
        os._exit(0)  # as below: the SDK's interpreter teardown once aborted here (SIGABRT)
    commands = {
        "launch": lambda: launch(client, int(args[0]), int(args[1])),
        "e2e": lambda: end_to_end(client, int(args[0]), int(args[1])),
        "sequential": lambda: sequential(client),
        "waits": lambda: waits(client),
    }
    asyncio.run(commands[command]())
    os._exit(0)  # neither client's teardown is measured


if __name__ == "__main__":
    main(sys.argv[1:])
