"""Drive the official SDK against a devserver, as a user would; prints one JSON object.

Usage: python drive.py ENDPOINT   (run with the SDK's Python, in this folder)
"""

import json
import pathlib
import sys

import flyte
import flyte.remote
import wf

flyte.init(
    endpoint=sys.argv[1],
    insecure=True,
    project="flytesnacks",
    domain="development",
    root_dir=pathlib.Path(__file__).parent.resolve(),
    image_builder="remote",
)
out: dict = {}
flyte.deploy(wf.env, wf.img_env)  # again: a redeploy of the same code is a no-op

# Runs in remote mode from local functions (fast registration: the code bundle is uploaded).
runs = {
    "add": flyte.run(wf.add, a=2, b=3),
    "shout": flyte.run(wf.shout, words=["a", "b"], sep="-"),
    "move": flyte.run(wf.move, p=wf.Point(1, 2), dx=10),
    "file": flyte.run(wf.file_roundtrip, text="hello file"),
    "fail": flyte.run(wf.fail, msg="kaboom from the task"),
    "parent": flyte.run(wf.parent, n=5),
    "flaky": flyte.run(wf.flaky, ok_on=2),
    "sleepy": flyte.run(wf.sleepy, seconds=60),
    "echo": flyte.run(wf.echo_lines, n=3),
    "image": flyte.run(wf.in_declared_image, x=7),
}
# A deployed task, by reference (what Airflow, Dagster and the CLI launch).
ref = flyte.remote.Task.get("sdkt.add", auto_version="latest")
runs["by_ref"] = flyte.run(ref, a=40, b=2)
# Fire and forget: the test aborts it.
out["abort_run"] = flyte.run(wf.slow_parent, seconds=300).name
print(json.dumps({"abort_run": out["abort_run"]}), flush=True)

for key, run in runs.items():
    run.wait(quiet=True)
    entry = {"name": run.name, "phase": str(run.phase)}
    if key != "fail" and "SUCCEEDED" in entry["phase"]:
        value = run.outputs()[0]
        entry["output"] = value if isinstance(value, (int, str)) else repr(value)
    out[key] = entry
print(json.dumps(out), flush=True)
