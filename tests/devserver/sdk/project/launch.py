"""Launch one task of wf.py without waiting, or wait for it: prints {"name", "phase"}.

Usage: python launch.py ENDPOINT TASK [wait|nowait] KEY=INT ...
"""

import json
import pathlib
import sys

import flyte
import wf

flyte.init(
    endpoint=sys.argv[1],
    insecure=True,
    project="flytesnacks",
    domain="development",
    root_dir=pathlib.Path(__file__).parent.resolve(),
    image_builder="remote",
)
kwargs = {k: int(v) for k, v in (a.split("=", 1) for a in sys.argv[4:])}
run = flyte.run(getattr(wf, sys.argv[2]), **kwargs)
if sys.argv[3] == "wait":
    run.wait(quiet=True)
print(json.dumps({"name": run.name, "phase": str(run.phase)}), flush=True)
