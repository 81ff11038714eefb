"""Write (refresh) the snapshot of the Flyte task interfaces a code location uses.

::

    FLYTE_ENDPOINT=... python -m flyte_dagster.snapshot --out flyte_interfaces.json my_project.definitions

imports the definitions (a module name or a ``.py`` file), which looks every Flyte task's
interface up once (batched), and writes them to ``--out`` (default: ``$FLYTE_DAGSTER_INTERFACE_SNAPSHOT``).
With ``FLYTE_DAGSTER_INTERFACE_SNAPSHOT`` pointing at that file, code-location loads read
the interfaces from it and call no backend; run this again after deploying new task versions.
"""

from __future__ import annotations

import argparse
import importlib
import importlib.util
import os
import sys
from collections.abc import Sequence
from pathlib import Path

from ._interface import REFRESH_ENV, SNAPSHOT_ENV, clear_interface_cache, write_snapshot

__all__ = ["main", "refresh_snapshot"]


def _import(target: str) -> None:
    if target.endswith(".py") or os.sep in target:
        path = Path(target).resolve()
        spec = importlib.util.spec_from_file_location(f"_flyte_snapshot_{path.stem}", path)
        if spec is None or spec.loader is None:
            raise SystemExit(f"cannot import {target}")
        module = importlib.util.module_from_spec(spec)
        sys.modules[spec.name] = module
        spec.loader.exec_module(module)
    else:
        importlib.import_module(target)


def refresh_snapshot(targets: Sequence[str], out: str) -> int:
    """Import ``targets`` with every lookup going to the backend, then write what was looked up to ``out``."""
    previous = os.environ.get(REFRESH_ENV)
    os.environ[REFRESH_ENV] = "1"
    clear_interface_cache()
    try:
        for target in targets:
            _import(target)
        return write_snapshot(out)
    finally:
        if previous is None:
            os.environ.pop(REFRESH_ENV, None)
        else:
            os.environ[REFRESH_ENV] = previous


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m flyte_dagster.snapshot", description=__doc__.split("\n")[0])
    parser.add_argument("targets", nargs="+", help="definitions modules or .py files")
    parser.add_argument("--out", default=os.environ.get(SNAPSHOT_ENV), help="the snapshot file to write")
    args = parser.parse_args(argv)
    if not args.out:
        parser.error(f"--out is required (or set {SNAPSHOT_ENV})")
    if os.getcwd() not in sys.path:
        sys.path.insert(0, os.getcwd())
    count = refresh_snapshot(args.targets, args.out)
    print(f"wrote {count} Flyte task interface(s) to {args.out}")
    return 0


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
