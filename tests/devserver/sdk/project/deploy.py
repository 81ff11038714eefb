"""Deploy wf.py's environments to a devserver with the official SDK.

Usage: python deploy.py ENDPOINT   (run with the SDK's Python, in this folder)
"""

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
flyte.deploy(wf.env, wf.img_env)
print("deployed", flush=True)
