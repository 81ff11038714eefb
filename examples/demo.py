"""``make demo``: the project's main job, end to end, against the embedded devserver.

1. Starts the devserver with the example tasks (``examples/tasks.py``), unless
   ``FLYTE_ENDPOINT`` points at a real Flyte 2 backend.
2. Uses the client directly: a slow task with the live progress panel, and a task that
   fails with a USER error (expected: it shows how errors come back).
3. Runs the example Airflow DAG for real (``airflow dags test`` on a temporary
   ``AIRFLOW_HOME`` with a SQLite metadata database).
4. Materializes the example Dagster assets with ``flyte_resource``.
5. Prints a summary table of every Flyte run it caused, and where to look next.

Exits non-zero if any step did not do what it should.
"""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

REPO = Path(__file__).resolve().parents[1]
EXAMPLE_TASKS = "examples.tasks"
# Wide enough for run URLs when the output is a file or a CI log rather than a terminal.
console = Console(width=None if sys.stdout.isatty() else 200)


@dataclass
class Step:
    name: str
    ok: bool = False
    seconds: float = 0.0
    detail: str = ""


@dataclass
class Demo:
    endpoint: str
    insecure: bool
    steps: list[Step] = field(default_factory=list)

    @contextlib.contextmanager
    def step(self, name: str) -> Iterator[Step]:
        step = Step(name)
        self.steps.append(step)
        console.rule(f"[bold]{name}")
        started = time.perf_counter()
        try:
            yield step
        except Exception as exc:  # a demo step failing is reported, and the demo goes on
            step.ok = False
            step.detail = f"{type(exc).__name__}: {exc}"
            console.print(f"[red]{name} failed: {step.detail}")
        finally:
            step.seconds = time.perf_counter() - started


@contextlib.contextmanager
def backend() -> Iterator[tuple[str, bool]]:
    """(endpoint, insecure): the configured backend, or a devserver of our own."""
    if os.environ.get("FLYTE_ENDPOINT"):
        insecure = os.environ.get("FLYTE_INSECURE", "").lower() in {"1", "true", "yes"}
        console.print(f"Using the Flyte backend at [bold]{os.environ['FLYTE_ENDPOINT']}[/] (FLYTE_ENDPOINT)")
        yield os.environ["FLYTE_ENDPOINT"], insecure
        return
    from flyte_remote_core.devserver import DevServer

    with tempfile.TemporaryDirectory(prefix="flyte-demo-") as data_dir:
        with DevServer(tasks=[EXAMPLE_TASKS], port=0, data_dir=data_dir) as server:
            console.print(
                f"Started the embedded devserver at [bold]{server.endpoint}[/] "
                f"in {server.startup_seconds:.2f}s with the tasks of {EXAMPLE_TASKS}"
            )
            os.environ.update({"FLYTE_ENDPOINT": server.endpoint, "FLYTE_INSECURE": "true"})
            yield server.endpoint, True


def client_step(demo: Demo, client: Any) -> None:
    from flyte_remote_core import RunFailedError

    with demo.step("Client: a slow task with the progress panel, and a failing task") as step:
        run = client.run("tasks.slow", {"seconds": 1.5})
        run.wait()  # the live panel: phases and elapsed time
        slow_ok = run.phase.is_success and run.outputs()["o0"] == 1.5
        failing = client.run("tasks.fail", {"message": "the demo asked for this failure"})
        failing.wait(quiet=True)
        try:
            failing.outputs()
            failed_as_expected = False
        except RunFailedError as exc:  # expected: errors come back typed, with kind and URL
            console.print(f"As expected, [yellow]tasks.fail[/] raised {type(exc).__name__} ({exc.kind}): {exc.message}")
            failed_as_expected = exc.kind == "USER"
        step.ok = slow_ok and failed_as_expected


def airflow_step(demo: Demo) -> None:
    with (
        demo.step("Airflow: the example DAG with airflow dags test") as step,
        tempfile.TemporaryDirectory(prefix="flyte-demo-airflow-") as home,
    ):
        conn: dict[str, Any] = {
            "conn_type": "flyte",
            "host": demo.endpoint,
            "extra": {
                "insecure": demo.insecure,
                "project": os.environ.get("FLYTE_PROJECT", "flytesnacks"),
                "domain": os.environ.get("FLYTE_DOMAIN", "development"),
            },
        }
        if os.environ.get("FLYTE_API_KEY"):
            conn["password"] = os.environ["FLYTE_API_KEY"]
        env = {
            **os.environ,
            "AIRFLOW_HOME": home,
            "AIRFLOW__CORE__DAGS_FOLDER": str(REPO / "examples" / "airflow" / "dags"),
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{home}/airflow.db",
            "AIRFLOW_CONN_FLYTE_DEFAULT": json.dumps(conn),
            "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")])),
        }
        airflow = str(Path(sys.executable).with_name("airflow"))
        migrate = subprocess.run([airflow, "db", "migrate"], env=env, capture_output=True, text=True, cwd=REPO)
        if migrate.returncode != 0:
            raise RuntimeError(f"airflow db migrate failed:\n{migrate.stderr[-2000:]}")
        result = subprocess.run(
            [airflow, "dags", "test", "flyte_example"], env=env, capture_output=True, text=True, cwd=REPO, timeout=300
        )
        output = result.stdout + result.stderr
        report = next((line for line in output.splitlines() if "add says" in line), "")
        if report:
            console.print(f"The downstream Airflow task printed: [green]{report.split('INFO - ')[-1].strip()}")
        step.ok = result.returncode == 0 and "add says 42" in output and "DagRunState.FAILED" not in output
        if not step.ok:
            step.detail = output[-3000:]
            console.print(step.detail)


def dagster_step(demo: Demo) -> None:
    with demo.step("Dagster: materialize the example assets with flyte_resource") as step:
        import dagster as dg

        from examples.dagster.definitions import greeting, readings, report, summary, total
        from flyte_dagster import flyte_resource

        with dg.instance_for_test() as instance:
            result = dg.materialize(
                [total, readings, summary, report], resources={"flyte": flyte_resource}, instance=instance
            )
            partition = dg.materialize(
                [greeting], partition_key="ada", resources={"flyte": flyte_resource}, instance=instance
            )
            value = result.output_for_node("report")
            console.print(f"The downstream Dagster asset computed: [green]{value}")
            step.ok = result.success and partition.success and value.startswith("total=3")


def summary(demo: Demo, client: Any, before: set[str], started: float) -> None:
    from flyte_remote_core import RunError

    runs = [r for r in client.list_runs(limit=200) if r.name not in before]
    table = Table(title="Flyte runs of this demo")
    for column in ("run", "task", "phase", "duration", "outputs / error", "url"):
        table.add_column(column, overflow="fold")
    for run in sorted(runs, key=lambda r: r.pb2.action.status.start_time.ToNanoseconds()):
        status = run.pb2.action.status
        if status.HasField("end_time") and status.HasField("start_time"):
            duration = f"{(status.end_time.ToNanoseconds() - status.start_time.ToNanoseconds()) / 1e9:.1f}s"
        else:
            duration = "-"
        try:
            outcome = json.dumps(run.outputs().to_dict(), default=str)
        except RunError as exc:
            outcome = f"[red]{exc.kind or exc.phase}: {exc.message}"
        style = "green" if run.phase.is_success else "red" if run.phase.is_terminal else "yellow"
        table.add_row(run.name, run.task_name or "", f"[{style}]{run.phase.value}", duration, outcome, run.url)
    console.print(table)
    steps = Table(title=f"Demo steps ({time.perf_counter() - started:.1f}s)")
    for column in ("step", "ok", "seconds"):
        steps.add_column(column)
    for step in demo.steps:
        steps.add_row(step.name, "[green]yes" if step.ok else "[red]NO", f"{step.seconds:.1f}")
    console.print(steps)
    console.print(
        "Next: README.md (client, Airflow and Dagster sections) · examples/airflow/dags/flyte_example.py · "
        "examples/dagster/definitions.py · `flyte-devserver --tasks examples.tasks` for a backend of your own · "
        "`make test`, `make bench`"
    )


def main() -> int:
    started = time.perf_counter()
    sys.path.insert(0, str(REPO))
    from flyte_remote_core import FlyteClient

    with backend() as (endpoint, insecure):
        demo = Demo(endpoint, insecure)
        client = FlyteClient.from_env()
        try:
            before = {r.name for r in client.list_runs(limit=200)}
            client_step(demo, client)
            airflow_step(demo)
            dagster_step(demo)
            summary(demo, client, before, started)
        finally:
            client.close()
    ok = all(step.ok for step in demo.steps)
    console.print("[bold green]Demo succeeded." if ok else "[bold red]Demo failed: see the steps above.")
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
