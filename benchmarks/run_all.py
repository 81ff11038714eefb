"""Run every benchmark script in turn (``make bench``)."""

from __future__ import annotations

import subprocess
import sys

QUICK = {
    "benchmarks.bench_client": ["--waits", "100", "--launches", "30", "--latency-samples", "5"],
    "benchmarks.bench_devserver": ["--runs", "30", "--startups", "1"],
    "benchmarks.bench_10k_waits": ["--runs", "200"],
    # Needs the official SDK in .venv-sdk (make install-sdk); skipped with a message without it.
    "benchmarks.bench_side_by_side": [
        "--rounds",
        "1",
        "--sequential",
        "3",
        "--launches",
        "15",
        "--waits",
        "30",
        "--e2e",
        "10",
    ],
}

RESULTS = "docs/BENCHMARKS.md"
GENERATES_DOCS = {"benchmarks.bench_10k_waits", "benchmarks.bench_side_by_side"}


def main(argv: list[str] | None = None) -> int:
    """``--quick`` runs each script with small sizes (a smoke test of the scripts themselves)."""
    quick = "--quick" in (sys.argv[1:] if argv is None else argv)
    failed = 0
    for module, small in QUICK.items():
        # A full run regenerates the results in the docs; a quick one never touches them.
        options = small if quick else (["--write-docs", RESULTS] if module in GENERATES_DOCS else [])
        failed |= subprocess.call([sys.executable, "-m", module, *options])
        if module == "benchmarks.bench_10k_waits" and not quick:  # runs ending over 10 s, not in one burst
            failed |= subprocess.call([sys.executable, "-m", module, *options, "--release-rate", "1000"])
    return failed


if __name__ == "__main__":
    raise SystemExit(main())
