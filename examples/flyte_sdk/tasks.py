"""Your Flyte 2 tasks, written with the official SDK (run in your project's environment)."""

import flyte

env = flyte.TaskEnvironment(name="quickstart")


@env.task
async def square(x: int) -> int:
    return x * x


@env.task
async def total(values: list[int]) -> int:
    squares = [await square(v) for v in values]  # each one a nested action
    print(f"squares: {squares}")
    return sum(squares)
