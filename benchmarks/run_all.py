"""Run every benchmark script in turn (``make bench``)."""

from __future__ import annotations

import subprocess
import sys

RESULTS = "docs/BENCHMARKS.md"
DOCS = ["--write-docs", RESULTS]

# (module, options of a full run, options of a quick run). A full run regenerates the results in
# the docs; a quick one (a smoke test of the scripts themselves) never touches them.
RUNS = [
    ("benchmarks.bench_client", [], ["--waits", "100", "--launches", "30", "--latency-samples", "5"]),
    ("benchmarks.bench_devserver", [], ["--runs", "30", "--startups", "1"]),
    ("benchmarks.bench_10k_waits", DOCS, ["--runs", "200"]),
    # Runs ending over 10 s rather than in one burst; nothing more to learn from it at a small size.
    ("benchmarks.bench_10k_waits", [*DOCS, "--release-rate", "1000"], None),
    # Needs the official SDK in .venv-sdk (`make bench` and `make test` install it); fails saying so without it.
    (
        "benchmarks.bench_side_by_side",
        DOCS,
        ["--rounds", "1", "--sequential", "3", "--launches", "15", "--waits", "30", "--e2e", "10"],
    ),
]


def main(argv: list[str] | None = None) -> int:
    """``--quick`` runs each script with small sizes."""
    quick = "--quick" in (sys.argv[1:] if argv is None else argv)
    failed = 0
    for module, full, small in RUNS:
        options = small if quick else full
        if options is not None:
            failed |= subprocess.call([sys.executable, "-m", module, *options])
    return failed


if __name__ == "__main__":
    raise SystemExit(main())
