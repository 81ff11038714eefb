"""Run every benchmark script in turn (``make bench``)."""

from __future__ import annotations

import subprocess
import sys

QUICK = {
    "benchmarks.bench_client": ["--waits", "100", "--launches", "30", "--latency-samples", "5"],
    "benchmarks.bench_devserver": ["--runs", "30", "--startups", "1"],
}


def main(argv: list[str] | None = None) -> int:
    """``--quick`` runs each script with small sizes (a smoke test of the scripts themselves)."""
    quick = "--quick" in (sys.argv[1:] if argv is None else argv)
    failed = 0
    for module, small in QUICK.items():
        failed |= subprocess.call([sys.executable, "-m", module, *(small if quick else [])])
    return failed


if __name__ == "__main__":
    raise SystemExit(main())
