"""Count what the lint gate (`make lint`) finds, per package and per rule, without failing.

    .venv/bin/python tools/lint_report.py            # or: make lint-report

Prints, for ruff (lint), ruff format and mypy, the number of findings per package and the most
frequent rule / error codes, then what `ruff check --fix` and `ruff format` would change. Those two
run on a throw-away copy of the sources: nothing in the work tree is modified. Always exits 0.
"""

from __future__ import annotations

import argparse
import collections
import difflib
import json
import re
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
# The paths `make lint` checks; mypy reads its own file list from pyproject.toml.
LINT_PATHS = ("flyte_remote_core", "flyte_airflow", "flyte_dagster", "benchmarks", "tools", "tests", "examples")
# Reported separately, most specific first.
PACKAGES = (
    "flyte_remote_core/devserver",
    "flyte_remote_core",
    "flyte_airflow",
    "flyte_dagster",
    "benchmarks",
    "tools",
    "tests",
    "examples",
)
MYPY_LINE = re.compile(r"^(?P<path>[^:\n]+):\d+(?::\d+)?: error: (?P<message>.*?)(?:  \[(?P<code>[a-z0-9-]+)\])?$")


def package_of(path: str) -> str:
    rel = Path(path).as_posix()
    if Path(path).is_absolute():
        try:
            rel = Path(path).resolve().relative_to(REPO).as_posix()
        except ValueError:
            return "other"
    return next((p for p in PACKAGES if rel == p or rel.startswith(p + "/")), "other")


def run(argv: Sequence[str], cwd: Path = REPO) -> subprocess.CompletedProcess[str]:
    return subprocess.run(list(argv), cwd=cwd, capture_output=True, text=True, check=False)


def table(title: str, findings: Iterable[tuple[str, str]], top: int) -> int:
    """Print per-package counts and top codes of ``(package, code)`` pairs; return the total."""
    by_package: dict[str, collections.Counter[str]] = collections.defaultdict(collections.Counter)
    for package, code in findings:
        by_package[package][code] += 1
    total = sum(sum(c.values()) for c in by_package.values())
    print(f"\n## {title}: {total}")
    for package in (*PACKAGES, "other"):
        codes = by_package.get(package)
        if not codes:
            continue
        common = ", ".join(f"{code} {n}" for code, n in codes.most_common(top))
        print(f"  {package:<28} {sum(codes.values()):>5}   {common}")
    everything = sum(by_package.values(), collections.Counter[str]())
    if everything:
        print(
            f"  {'all (top codes)':<28} {total:>5}   " + ", ".join(f"{c} {n}" for c, n in everything.most_common(top))
        )
    return total


def ruff_findings(paths: Sequence[str], root: Path = REPO) -> list[dict[str, Any]]:
    result = run([str(BIN / "ruff"), "check", "--output-format", "json", "--exit-zero", *paths], cwd=root)
    try:
        return list(json.loads(result.stdout or "[]"))
    except json.JSONDecodeError:
        print(f"ruff did not answer JSON:\n{result.stdout[-2000:]}{result.stderr[-2000:]}")
        return []


def format_findings(paths: Sequence[str]) -> list[str]:
    """The files `ruff format` would change."""
    result = run([str(BIN / "ruff"), "format", "--check", "--output-format", "json", *paths])
    try:
        return sorted({str(f["filename"]) for f in json.loads(result.stdout or "[]")})
    except json.JSONDecodeError:
        print(f"ruff format did not answer JSON:\n{result.stdout[-2000:]}{result.stderr[-2000:]}")
        return []


def mypy_findings() -> list[tuple[str, str]]:
    result = run([str(BIN / "mypy"), "--no-error-summary", "--no-pretty", "--show-error-codes"])
    found, unparsed = [], []
    for line in result.stdout.splitlines():
        match = MYPY_LINE.match(line)
        if match:
            found.append((package_of(match["path"]), match["code"] or "(no code)"))
        elif ": note:" not in line and line.strip():
            unparsed.append(line)
    if unparsed or result.stderr.strip():
        print("mypy also said:\n  " + "\n  ".join([*unparsed, *result.stderr.splitlines()][:20]))
    return found


def sources(root: Path, paths: Sequence[str]) -> dict[str, list[str]]:
    return {
        f.relative_to(root).as_posix(): f.read_text().splitlines()
        for path in paths
        for f in sorted((root / path).rglob("*.py"))
        if "__pycache__" not in f.parts
    }


def diff_stat(before: dict[str, list[str]], after: dict[str, list[str]]) -> str:
    files = added = removed = 0
    for name, old in before.items():
        new = after.get(name, [])
        if new == old:
            continue
        files += 1
        for line in difflib.unified_diff(old, new, lineterm="", n=0):
            if line.startswith("+") and not line.startswith("+++"):
                added += 1
            elif line.startswith("-") and not line.startswith("---"):
                removed += 1
    return f"{files} files changed, {added} lines added, {removed} removed" if files else "no change"


def what_fix_and_format_change(paths: Sequence[str]) -> None:
    """Apply `ruff check --fix` then `ruff format` to a copy, and count what changed."""
    with tempfile.TemporaryDirectory(prefix="lint-report-") as tmp:
        copy = Path(tmp)
        shutil.copy2(REPO / "pyproject.toml", copy / "pyproject.toml")
        for path in paths:
            if (REPO / path).is_dir():
                shutil.copytree(REPO / path, copy / path, ignore=shutil.ignore_patterns("__pycache__"))
        original = sources(copy, paths)
        before = len(ruff_findings(paths, root=copy))
        run([str(BIN / "ruff"), "check", "--fix", "--exit-zero", "--quiet", *paths], cwd=copy)
        fixed = sources(copy, paths)
        after_fix = len(ruff_findings(paths, root=copy))
        run([str(BIN / "ruff"), "format", "--quiet", *paths], cwd=copy)
        formatted = sources(copy, paths)
        after_both = len(ruff_findings(paths, root=copy))
    print("\n## what `ruff check --fix` and then `ruff format` would change (on a copy; nothing applied)")
    print(
        f"  ruff check --fix: {before - after_fix} findings fixed ({before} -> {after_fix}); "
        f"{diff_stat(original, fixed)}"
    )
    print(f"  then ruff format: {diff_stat(fixed, formatted)}; ruff findings left after both: {after_both}")
    print(f"  both together:    {diff_stat(original, formatted)}")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--top", type=int, default=8, help="codes to show per package")
    parser.add_argument("--no-fix-preview", action="store_true", help="skip the ruff --fix/format dry run")
    args = parser.parse_args(argv)
    paths = [p for p in LINT_PATHS if (REPO / p).exists()]
    print(f"# lint report ({', '.join(paths)}; mypy files from pyproject.toml)")

    ruff = ruff_findings(paths)
    ruff_total = table("ruff check", ((package_of(str(f["filename"])), str(f["code"])) for f in ruff), args.top)
    fixable = sum(1 for f in ruff if isinstance(f.get("fix"), dict) and f["fix"].get("applicability") == "safe")
    unsafe = sum(1 for f in ruff if isinstance(f.get("fix"), dict) and f["fix"].get("applicability") != "safe")
    print(
        f"  fixable by `ruff check --fix`: {fixable}; with --unsafe-fixes too: {fixable + unsafe}; "
        f"by hand: {ruff_total - fixable - unsafe}"
    )

    unformatted = format_findings(paths)
    table(
        "ruff format --check (files that would be reformatted)",
        ((package_of(path), "reformat") for path in unformatted),
        args.top,
    )
    mypy_total = table("mypy", mypy_findings(), args.top)

    if not args.no_fix_preview:
        what_fix_and_format_change(paths)
    print(f"\ntotal: ruff {ruff_total}, files to format {len(unformatted)}, mypy {mypy_total}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
