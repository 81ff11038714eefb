"""Deploy tasks.py to a Flyte 2 backend: ``python deploy.py ENDPOINT`` (the devserver: localhost:8090)."""

import pathlib
import sys

import flyte
import tasks

flyte.init(
    endpoint=sys.argv[1] if len(sys.argv) > 1 else "localhost:8090",
    insecure=True,
    project="flytesnacks",
    domain="development",
    root_dir=pathlib.Path(__file__).parent.resolve(),
    image_builder="remote",  # the devserver has every image: nothing is built
)
flyte.deploy(tasks.env)  # the tasks become quickstart.square and quickstart.total
