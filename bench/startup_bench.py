"""Benchmark: how long the `makegood` command takes to start, beside bare Python.

Measured in the same run, each as a fresh process, N times each (round-robin, so a
burst of load elsewhere on the machine hits every case alike), after W warm-up rounds:

- ``python -c pass``: the interpreter alone (the floor);
- ``python -c "import makegood"``: the package's own ``__init__``;
- ``makegood --help``: the root command's help (target: median within 0.3 s);
- ``makegood --json incidents list``: a real command on a fresh SQLite database,
  initialised (and given one incident) in a temporary directory before timing
  (target: median within 0.5 s).

Each case reports wall time (median, p90, min) and the child's CPU time (user + sys,
median), which a busy machine inflates less than wall time. The load average before
and after the run is printed too, so a slow figure can be told from a busy machine.

Bytecode matters more than anything else here, so every case runs in two modes:

- ``cached``: Python may write and read ``.pyc`` files, kept in a private
  ``PYTHONPYCACHEPREFIX`` that the warm-up rounds fill: the state of an installed
  package after its first run (pip, and ``uv sync --compile-bytecode``, compile at install);
- ``inherit``: the caller's environment as it is. Where ``PYTHONDONTWRITEBYTECODE=1``
  is set and the virtualenv was installed without bytecode (``uv sync``'s default), every
  run compiles every imported module from source again.

``--baseline DIR`` times a second tree beside this one in the same rounds, with ``DIR``
(e.g. another checkout's ``src/``) first on ``PYTHONPATH``: a before/after on equal
load, without switching branches. Its rows say "baseline".

``--importtime`` adds, per makegood case, the packages that cost most to import
(from ``python -X importtime``, cumulative, outermost entry of each package).

    .venv/bin/python bench/startup_bench.py                # 20 runs of each
    .venv/bin/python bench/startup_bench.py --runs 50 --json
    .venv/bin/python bench/startup_bench.py --importtime --modes cached
    .venv/bin/python bench/startup_bench.py --baseline ../before/src

Each run appends one JSON line to ``bench/results/startup.jsonl`` (``--json-out ''``
for none). The makegood command is the one beside this interpreter (``.venv/bin``).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

BENCH_DIR = Path(__file__).resolve().parent
DEFAULT_RESULTS = BENCH_DIR / "results" / "startup.jsonl"
TARGETS = {"makegood --help": 0.3, "makegood --json incidents list": 0.5}


def makegood_argv() -> list[str]:
    """The installed console script beside this interpreter, else `python -m makegood`."""
    script = Path(sys.executable).with_name("makegood")
    return [str(script)] if script.is_file() else [sys.executable, "-m", "makegood"]


def cases() -> dict[str, list[str]]:
    mg = makegood_argv()
    return {
        "python -c pass": [sys.executable, "-c", "pass"],
        "python -c 'import makegood'": [sys.executable, "-c", "import makegood"],
        "makegood --help": [*mg, "--help"],
        "makegood --json incidents list": [*mg, "--json", "incidents", "list"],
    }


def clean_env(mode: str, workdir: Path) -> dict[str, str]:
    """The environment for one bytecode mode (see the module's docstring)."""
    # Settings from the caller's environment would change what is measured.
    env = {k: v for k, v in os.environ.items() if not k.startswith("MAKEGOOD_")}
    env["COLUMNS"] = "100"
    if mode == "cached":
        env.pop("PYTHONDONTWRITEBYTECODE", None)
        env["PYTHONPYCACHEPREFIX"] = str(workdir / "pycache")
    return env


def prepare(workdir: Path, env: dict[str, str]) -> None:
    """A fresh SQLite database in workdir (the default makegood.db) with one incident."""
    mg = makegood_argv()
    declare = [
        *mg,
        "incidents",
        "declare",
        "--service",
        "streaming",
        "--start",
        "2008-03-27T19:00:00-07:00",
        "--end",
        "2008-03-27T23:00:00-07:00",
        "--title",
        "Playback failures",
        "--summary",
        "Videos would not start.",
    ]
    for argv in ([*mg, "init"], declare):
        subprocess.run(argv, cwd=workdir, env=env, check=True, capture_output=True)


def run_once(argv: list[str], workdir: Path, env: dict[str, str]) -> tuple[float, float]:
    """Wall seconds and child CPU seconds (user + sys) of one run."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    proc = subprocess.run(argv, cwd=workdir, env=env, capture_output=True)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if proc.returncode != 0:
        raise SystemExit(
            f"{argv} exited {proc.returncode}:\n{proc.stdout.decode()}{proc.stderr.decode()}"
        )
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu


def nearest_rank(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[max(0, math.ceil(q * len(ordered)) - 1)]


def summarise(walls: list[float], cpus: list[float]) -> dict[str, float]:
    return {
        "median_s": round(statistics.median(walls), 4),
        "p90_s": round(nearest_rank(walls, 0.9), 4),
        "min_s": round(min(walls), 4),
        "cpu_median_s": round(statistics.median(cpus), 4),
    }


def heaviest_imports(argv: list[str], workdir: Path, env: dict[str, str], top: int) -> list[Any]:
    """The packages with the largest cumulative import time in one run of argv."""
    proc = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "makegood", *argv[1:]],
        cwd=workdir,
        env=env,
        capture_output=True,
        text=True,
    )
    entries: list[tuple[int, str, int]] = []
    for line in proc.stderr.splitlines():
        if line.startswith("import time:") and line.count("|") == 2:
            _, total, raw_name = line[len("import time:") :].split("|")
            if total.strip().isdigit():
                depth = len(raw_name) - len(raw_name.lstrip())
                entries.append((depth, raw_name.strip().split(".")[0], int(total)))
    # importtime prints a module after what it imports; read backwards to meet parents
    # first, and count a package only where its parent is another package's module.
    totals: dict[str, int] = defaultdict(int)
    parents: list[tuple[int, str]] = []
    for depth, package, cumulative in reversed(entries):
        while parents and parents[-1][0] >= depth:
            parents.pop()
        if not parents or parents[-1][1] != package:
            totals[package] += cumulative
        parents.append((depth, package))
    ranked = sorted(totals.items(), key=lambda kv: kv[1], reverse=True)
    return [[name, us] for name, us in ranked[:top]]


def time_cases(
    args: argparse.Namespace, workdir: Path, envs: dict[str, dict[str, str]]
) -> dict[str, Any]:
    """Every case under every environment, round-robin, warm-up rounds first."""
    timings: dict[tuple[str, str], tuple[list[float], list[float]]] = {
        (label, name): ([], []) for label in envs for name in cases()
    }
    for round_no in range(args.warmup + args.runs):
        for label, env in envs.items():
            for name, argv in cases().items():
                wall, cpu = run_once(argv, workdir, env)
                if round_no >= args.warmup:
                    timings[label, name][0].append(wall)
                    timings[label, name][1].append(cpu)
    results: dict[str, Any] = {label: {} for label in envs}
    for (label, name), (walls, cpus) in timings.items():
        results[label][name] = summary = summarise(walls, cpus)
        if name in TARGETS:
            summary["target_s"] = TARGETS[name]
            summary["met"] = summary["median_s"] <= TARGETS[name]
    return results


def measure(args: argparse.Namespace) -> dict[str, Any]:
    started_at = datetime.now(UTC).isoformat()
    load_before = os.getloadavg()
    results: dict[str, Any] = {}
    imports: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="makegood-startup-") as tmp:
        workdir = Path(tmp)
        prepare(workdir, clean_env("inherit", workdir))
        for mode in args.modes:
            envs = {mode: clean_env(mode, workdir)}
            if args.baseline:
                # Another tree's package first on the path, timed in the same rounds.
                envs[f"{mode}, baseline"] = {**envs[mode], "PYTHONPATH": args.baseline}
            results.update(time_cases(args, workdir, envs))
            if args.importtime:
                imports[mode] = {
                    name: heaviest_imports(argv, workdir, envs[mode], args.top)
                    for name, argv in cases().items()
                    if name.startswith("makegood")
                }
    return {
        "bench": "startup",
        "started_at": started_at,
        "runs": args.runs,
        "warmup": args.warmup,
        "machine": {
            "nproc": os.cpu_count(),
            "python": sys.version.split()[0],
            "load_before": [round(x, 2) for x in load_before],
            "load_after": [round(x, 2) for x in os.getloadavg()],
            "git_commit": git_commit(),
            "PYTHONDONTWRITEBYTECODE": os.environ.get("PYTHONDONTWRITEBYTECODE"),
            "baseline": args.baseline,
        },
        "results": results,
        **({"imports_us": imports} if imports else {}),
    }


def git_commit() -> str | None:
    proc = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"], cwd=BENCH_DIR, capture_output=True, text=True
    )
    return proc.stdout.strip() or None


def print_table(record: dict[str, Any]) -> None:
    machine = record["machine"]
    print(
        f"{record['runs']} runs each after {record['warmup']} warm-up; {machine['nproc']} cores; "
        f"load average {machine['load_before']} before, {machine['load_after']} after"
    )
    header = f"{'bytecode, tree':<17} {'case':<32} {'median':>8} {'p90':>8} {'min':>8} {'cpu':>8}"
    header += "  target"
    print(header)
    print("-" * len(header))
    for mode, results in record["results"].items():
        for name, r in results.items():
            target = ""
            if "target_s" in r:
                target = f"<= {r['target_s']:.1f} s {'met' if r['met'] else 'NOT met'}"
            print(
                f"{mode:<17} {name:<32} {r['median_s']:>7.3f}s {r['p90_s']:>7.3f}s "
                f"{r['min_s']:>7.3f}s {r['cpu_median_s']:>7.3f}s  {target}"
            )
    for mode, by_case in record.get("imports_us", {}).items():
        for name, ranked in by_case.items():
            listed = ", ".join(f"{pkg} {us / 1000:.0f} ms" for pkg, us in ranked)
            print(f"\nheaviest imports of {name} ({mode}): {listed}")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0] if __doc__ else None,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--runs", type=int, default=20, help="timed runs of each case")
    p.add_argument("--warmup", type=int, default=2, help="untimed rounds first")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.add_argument("--importtime", action="store_true", help="also list the heaviest imports")
    p.add_argument("--top", type=int, default=8, help="packages listed with --importtime")
    p.add_argument(
        "--modes",
        nargs="+",
        choices=["cached", "inherit"],
        default=["cached", "inherit"],
        help="bytecode modes to measure (see above)",
    )
    p.add_argument(
        "--baseline",
        metavar="DIR",
        help="also time the package found in DIR (e.g. another checkout's src/), "
        "interleaved with this one, for a before/after on the same machine load",
    )
    p.add_argument("--json-out", default=str(DEFAULT_RESULTS), help="append the record here")
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    record = measure(args)
    if args.json_out:
        out = Path(args.json_out)
        out.parent.mkdir(parents=True, exist_ok=True)
        with out.open("a", encoding="utf-8") as f:
            f.write(json.dumps(record) + "\n")
    if args.json:
        print(json.dumps(record))
    else:
        print_table(record)


if __name__ == "__main__":
    main()
