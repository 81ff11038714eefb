"""A Flyte 2 user's tasks, written with the official SDK (imported only by .venv-sdk)."""

import asyncio
import os
from dataclasses import dataclass
from datetime import timedelta

import flyte
from flyte.io import File

env = flyte.TaskEnvironment(name="sdkt")  # image="auto": the SDK's default image
# A declared image: the devserver's ImageService says it exists, so nothing is built, and
# its tasks run in the devserver's one configured Python like every other image's.
img_env = flyte.TaskEnvironment(
    name="sdkimg", image=flyte.Image.from_debian_base(name="devserver-test-image").with_pip_packages("six")
)


@dataclass
class Point:
    x: int
    y: int


@env.task
async def add(a: int, b: int) -> int:
    print(f"adding {a} and {b}")
    return a + b


@env.task
async def shout(words: list[str], sep: str = " ") -> str:
    return sep.join(w.upper() for w in words)


@env.task
async def move(p: Point, dx: int) -> Point:
    return Point(p.x + dx, p.y)


@env.task
async def write_file(text: str) -> File:
    with open("out.txt", "w") as f:  # noqa: ASYNC230 - a Flyte task as users write it
        f.write(text)
    return await File.from_local("out.txt")


@env.task
async def read_file(f: File) -> str:
    path = await f.download()
    with open(path) as fh:  # noqa: ASYNC230 - a Flyte task as users write it
        return fh.read()


@env.task
async def file_roundtrip(text: str) -> str:
    return await read_file(await write_file(text))


@env.task
async def fail(msg: str) -> int:
    raise ValueError(msg)


@env.task
async def parent(n: int) -> int:
    return (await add(n, 1)) * 2


@env.task(retries=2)
async def flaky(ok_on: int) -> int:
    attempt = int(os.environ.get("FLYTE_ATTEMPT_NUMBER", "0"))
    print(f"attempt {attempt}")
    if attempt < ok_on:
        raise RuntimeError(f"flaky attempt {attempt}")
    return attempt


@env.task(timeout=timedelta(seconds=3))
async def sleepy(seconds: int) -> int:
    await asyncio.sleep(seconds)
    return seconds


@env.task
async def sleeper(seconds: int) -> int:
    print("child sleeping", flush=True)
    await asyncio.sleep(seconds)
    return seconds


@env.task
async def slow_parent(seconds: int) -> int:
    return await sleeper(seconds)


@env.task
async def echo_lines(n: int) -> int:
    for _ in range(n):
        print("same line", flush=True)
    print("last line", flush=True)
    return n


@env.task
async def fan_out(n: int, seconds: int) -> int:
    done = await asyncio.gather(*(sleeper(seconds) for _ in range(n)))
    return sum(done)


@img_env.task
async def in_declared_image(x: int) -> int:
    return x * 3
