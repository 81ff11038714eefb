"""The README cannot rot: its commands are known and exercised, its code runs."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
README = (REPO / "README.md").read_text()

# Every shell command in the README, and the test that runs it.
EXERCISED = {
    "make demo": "tests/examples/test_demo.py (the demo itself) and .ci/run installs the same way",
    "make test": ".ci/run (CI calls exactly this)",
    "export AIRFLOW_CONN_FLYTE_DEFAULT=": "test_airflow_connection_json_from_the_readme",
    "flyte-devserver --port 8090 --tasks examples.tasks": "test_devserver_command_from_the_readme",
    "flyte-devserver --port 8090 --sdk-python": "tests/examples/test_flyte_sdk_example.py",
    "python examples/flyte_sdk/deploy.py": "tests/examples/test_flyte_sdk_example.py",
    "make bench": "test_benchmark_scripts_run",
}


def blocks(language: str) -> list[str]:
    return re.findall(rf"```{language}\n(.*?)```", README, flags=re.S)


def code_lines(source: str) -> list[str]:
    """Code without comment-only lines, blank lines, docstring and __future__ import."""
    source = re.sub(r'^""".*?"""\n', "", source, flags=re.S)
    return [
        line.rstrip()
        for line in source.splitlines()
        if line.strip() and not line.strip().startswith("#") and "from __future__" not in line
    ]


def test_every_shell_command_is_known_and_exercised() -> None:
    commands = [line.strip() for block in blocks("bash") for line in block.splitlines() if line.strip()]
    assert commands, "the README has no commands?"
    unknown = [c for c in commands if not any(c.startswith(known) for known in EXERCISED)]
    assert unknown == [], f"README commands with no test: {unknown}"


def test_quickstart_is_exactly_two_commands() -> None:
    quickstart = README.split("## Quickstart", 1)[1].split("\n## ", 1)[0]
    assert re.findall(r"```bash\n(.*?)```", quickstart, flags=re.S) == ["make demo\nmake test\n"]


def minors_the_readme_states() -> set[str]:
    """The Python minors the Quickstart names: "Python 3.11", "Python (3.11 or newer)", "Python 3.11 to 3.13"."""
    quickstart = README.split("## Quickstart", 1)[1].split("\n## ", 1)[0]
    match = re.search(r"Python \(?3\.(\d+)(?:\s*(?:-|\u2013|to)\s*3\.(\d+)|( or newer|\+))?", quickstart)
    assert match, "the Quickstart does not say which Python it needs"
    low = int(match[1])
    high = int(match[2]) if match[2] else (40 if match[3] else low)
    return {f"3.{m}" for m in range(low, high + 1)}


def minors_pyproject_declares() -> set[str]:
    import tomllib

    from packaging.specifiers import SpecifierSet

    spec = SpecifierSet(tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["requires-python"])
    return {f"3.{m}" for m in range(41) if spec.contains(f"3.{m}")}


def test_readme_states_the_python_versions_pyproject_declares() -> None:
    assert minors_the_readme_states() == minors_pyproject_declares()


def test_airflow_dag_in_the_readme_is_the_example_dag() -> None:
    dag_block = next(b for b in blocks("python") if "FlyteRunOperator(" in b)
    example = (REPO / "examples" / "airflow" / "dags" / "flyte_example.py").read_text()
    assert code_lines(dag_block) == code_lines(example)


def test_event_driven_dag_in_the_readme_is_the_example_dag() -> None:
    """The example runs in a real triggerer in tests/e2e/airflow/test_event_watchers.py."""
    block = next(b for b in blocks("python") if "FlyteRunEventTrigger(" in b)
    example = (REPO / "examples" / "airflow" / "dags" / "flyte_run_events.py").read_text()
    assert code_lines(block) == code_lines(example)


def test_airflow_connection_json_from_the_readme() -> None:
    line = next(b for b in blocks("bash") if "AIRFLOW_CONN_FLYTE_DEFAULT" in b)
    value = json.loads(line.split("=", 1)[1].strip().strip("'"))
    from flyte_airflow.hooks.flyte import client_kwargs_from_connection

    class Conn:  # the fields Airflow's Connection exposes, as the env var defines them
        host = value["host"]
        password = None
        login = None
        port = None
        schema = None
        extra_dejson = value["extra"]

    kwargs = client_kwargs_from_connection(Conn())
    assert kwargs["endpoint"] == "localhost:8090"
    assert kwargs["insecure"] is True and kwargs["project"] == "flytesnacks" and kwargs["domain"] == "development"


def readme_command(prefix: str) -> str:
    """The first README shell line that starts with ``prefix``."""
    return next(line for b in blocks("bash") for line in b.splitlines() if line.startswith(prefix))


@contextmanager
def devserver_started_as(argv: list[str]) -> Iterator[str]:
    """Run the ``flyte-devserver`` command ``argv`` (this venv's), yield its endpoint once ready;
    stop it and check that it exited cleanly."""
    exe = str(Path(sys.executable).with_name(argv[0]))
    proc = subprocess.Popen([exe, *argv[1:]], cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        seen = []
        for line in proc.stdout:  # type: ignore[union-attr]
            seen.append(line)
            if "ready" in line:
                break
        yield next(line.split(":", 1)[1].strip() for line in seen if line.startswith("endpoint:"))
    finally:
        proc.terminate()
        assert proc.wait(timeout=20) == 0


@pytest.mark.timeout(60)
def test_devserver_command_from_the_readme(tmp_path) -> None:
    argv = [*readme_command("flyte-devserver").replace("--port 8090", "--port 0").split(), "--data-dir", str(tmp_path)]
    with devserver_started_as(argv) as endpoint:
        from flyte_remote_core import FlyteClient

        with FlyteClient(endpoint, insecure=True) as client:
            assert client.run("tasks.add", {"x": 2, "y": 2}).wait(quiet=True).outputs()[0] == 4


def stated_results(block: str) -> dict[int, str]:
    """``{line number: stated output}`` for every ``print(...)  # result`` line of a README block.

    The comment after a print is what the README says it prints; ``...`` stands for text that
    differs from run to run (a URL, a run name).
    """
    return {
        number: line.split("#", 1)[1].strip()
        for number, line in enumerate(block.splitlines(), 1)
        if line.lstrip().startswith("print(") and "#" in line
    }


def matches_stated(printed: str, stated: str) -> bool:
    """``printed`` is ``stated``, each ``...`` standing for any text (at least one character)."""
    pattern = r"\s*.+?\s*".join(re.escape(part.strip()) for part in stated.split("..."))
    return re.fullmatch(pattern, printed.strip()) is not None


def run_printing_block(block: str, filename: str, namespace: dict[str, object]) -> dict[int, list[str]]:
    """Run a README block; ``{line number: [what each print() there printed]}``."""
    printed: dict[int, list[str]] = {}

    def recording_print(*args: object, sep: str = " ", end: str = "\n", **_: object) -> None:
        caller = sys._getframe(1)
        assert caller.f_code.co_filename == filename, "print() called from outside the README block"
        printed.setdefault(caller.f_lineno, []).append(sep.join(str(a) for a in args))

    exec(compile(block, filename, "exec"), {**namespace, "print": recording_print})
    return printed


def test_stated_results_are_matched_exactly() -> None:
    # The matcher itself: "..." is a wildcard, everything else must be there, in order, and nothing more.
    assert matches_stated("SUCCEEDED http://x/runs/r1 {'o0': 3}", "SUCCEEDED ... {'o0': 3}")
    assert not matches_stated("Phase.SUCCEEDED http://x {'o0': 3}", "SUCCEEDED ... {'o0': 3}")
    assert not matches_stated("SUCCEEDED http://x {'o0': 4}", "SUCCEEDED ... {'o0': 3}")
    assert not matches_stated("SUCCEEDED http://x {'o0': 3} extra", "SUCCEEDED ... {'o0': 3}")


@pytest.mark.timeout(60)
@pytest.mark.flyte_devserver_tasks("examples.tasks")
def test_client_example_prints_what_the_readme_says(flyte_devserver) -> None:
    block = next(b for b in blocks("python") if "FlyteClient(" in b)
    assert "localhost:8090" in block
    stated = stated_results(block)
    assert stated, "the client example states no results?"
    printed = run_printing_block(block.replace("localhost:8090", flyte_devserver.endpoint), "README-client", {})
    lines = block.splitlines()

    # Every result the README states is what that very line printed, once.
    for number, expected in stated.items():
        assert len(printed.get(number, [])) == 1, f"README line {lines[number - 1]!r} printed {printed.get(number)}"
        assert matches_stated(printed[number][0], expected), (
            f"README says {lines[number - 1].strip()!r} prints {expected!r}; it printed {printed[number][0]!r}"
        )

    # The prints that state no result: what the example is there to show.
    def output_of(code: str) -> str:
        number = next(n for n, line in enumerate(lines, 1) if line.lstrip().startswith(code))
        assert len(printed.get(number, [])) == 1, f"{code!r} printed {printed.get(number)}"
        return printed[number][0]

    assert output_of("print([(i.name, i.type, i.required)") == "[('x', 'int', True), ('y', 'int', True)]"
    kind, message_and_url = output_of("print(err.kind").split(" ", 1)
    assert kind == "USER" and "no" in message_and_url and f"http://{flyte_devserver.endpoint}/" in message_and_url
    assert re.fullmatch(r"launched r?[a-z0-9-]+", output_of("print(outcome.action"))
    assert sum(len(v) for v in printed.values()) == 4, printed  # no print left unchecked


@pytest.mark.timeout(120)
@pytest.mark.flyte_devserver_tasks("examples.tasks")
def test_dagster_example_materializes(flyte_devserver, monkeypatch) -> None:
    import dagster as dg

    block = next(b for b in blocks("python") if "build_flyte_asset" in b)
    monkeypatch.setenv("FLYTE_ENDPOINT", flyte_devserver.endpoint)
    monkeypatch.setenv("FLYTE_INSECURE", "true")
    namespace: dict = {}
    exec(compile(block, "README-dagster", "exec"), namespace)
    defs = namespace["defs"]
    assets = [namespace[n] for n in ("total", "readings", "summary", "report")]
    result = dg.materialize(assets, resources={"flyte": namespace["flyte_resource"]})
    assert result.success
    assert result.output_for_node("report") == "total=3 mean=9.0"
    assert defs is not None


@pytest.mark.timeout(120)
def test_pytest_fixture_example_passes(tmp_path) -> None:
    block = next(b for b in blocks("python") if "def test_add(flyte_devserver)" in b)
    test_file = tmp_path / "test_readme_fixture.py"
    test_file.write_text(textwrap.dedent(block))
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(test_file)],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=100,
        env={**os.environ, "PYTHONPATH": str(REPO)},
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert "1 passed" in result.stdout


@pytest.mark.timeout(300)
def test_benchmark_scripts_run() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "benchmarks.run_all", "--quick"], cwd=REPO, capture_output=True, text=True, timeout=280
    )
    out = result.stdout + result.stderr
    assert result.returncode == 0, out[-3000:]
    for measure in (
        "notice latency",
        "launch throughput",
        "concurrent waits",
        "import flyte_remote_core",
        "start-up",
        "end to end",
    ):
        assert measure in out, measure
