"""Run every benchmark script in turn (``make bench``)."""

from __future__ import annotations

import subprocess
import sys


def main() -> int:
    failed = 0
    for module in ("benchmarks.bench_client", "benchmarks.bench_devserver"):
        failed |= subprocess.call([sys.executable, "-m", module])
    return failed


if __name__ == "__main__":
    raise SystemExit(main())
