"""``python -m flyte_remote_core.devserver``: the ``flyte-devserver`` CLI."""

from .server.cli import main

raise SystemExit(main())
