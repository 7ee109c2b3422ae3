"""Benchmark (not a test): how long a fresh process takes to synthesize every stack, imports included.

``python -m dsctl.synth_bench [--runs N] [--target SECONDS]`` starts N fresh Python processes, each importing the
synth engine and synthesizing every stack that has a ``Pulumi.<stack>.yaml``, in deploy order (a stack's
StackReference reuses the result of the stack it promotes from, as in ``dsctl synth``), and
prints each run's wall and CPU time (measured by this parent, so interpreter start-up and imports count) with the
child's own breakdown. Exit code 1 when the median exceeds the target (default 5 s), so a slow change is noticed.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import time
from collections.abc import Sequence

from rich.console import Console

from components.project import load_project
from dsctl.output import table

_CHILD_FLAG = "--child"


def child() -> dict[str, float]:
    """Inside the fresh process: import the engine, synthesize each stack, report phase times in seconds."""
    started = time.perf_counter()
    from dsctl.synth import synth

    timings = {"import": time.perf_counter() - started}
    for stack in stacks():
        began = time.perf_counter()
        result = synth(stack)
        timings[stack] = time.perf_counter() - began
        timings[f"{stack}_resources"] = float(len(result.resources))
    return timings


def stacks() -> list[str]:
    """Every stack of the project, in deploy order (the store owner first)."""
    return load_project().deploy_order()


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def measure_once() -> tuple[float, float, dict[str, float]]:
    """Wall and CPU time of one fresh process synthesizing every stack, and that process's own breakdown.

    CPU time is reported next to wall time because a shared machine stretches wall time without any change to us.
    """
    cpu_before, began = _children_cpu(), time.perf_counter()
    completed = subprocess.run(
        [sys.executable, "-m", "dsctl.synth_bench", _CHILD_FLAG], capture_output=True, text=True, check=False
    )
    wall, cpu = time.perf_counter() - began, _children_cpu() - cpu_before
    if completed.returncode != 0:
        raise SystemExit(f"synth failed in the benchmark process:\n{completed.stderr.strip()}")
    return wall, cpu, json.loads(completed.stdout.strip().splitlines()[-1])


def main(argv: Sequence[str] | None = None) -> int:
    """Run the benchmark and print one row per run plus the verdict."""
    parser = argparse.ArgumentParser(prog="python -m dsctl.synth_bench", description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3, help="fresh processes to time (default 3)")
    parser.add_argument("--target", type=float, default=5.0, help="median wall time to stay under, in s (default 5)")
    parser.add_argument(_CHILD_FLAG, action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        print(json.dumps(child()))
        return 0
    if args.runs < 1:
        parser.error("--runs must be at least 1")
    console = Console()
    names = stacks()
    rows, walls, cpus = [], [], []
    for run in range(1, args.runs + 1):
        wall, cpu, phases = measure_once()
        walls.append(wall)
        cpus.append(cpu)
        rows.append(
            (
                run,
                f"{wall:.2f}",
                f"{cpu:.2f}",
                f"{phases['import']:.2f}",
                *(f"{phases[name]:.2f} ({phases[f'{name}_resources']:.0f})" for name in names),
            )
        )
    columns = ("run", "wall s", "CPU s", "engine import s", *(f"{name} s (resources)" for name in names))
    load = os.getloadavg()[0]
    console.print(
        table(f"synth every stack in a fresh process (load {load:.1f} on {os.cpu_count()} CPUs)", columns, rows)
    )
    median = statistics.median(walls)
    verdict = "within" if median <= args.target else "OVER"
    console.print(
        f"median wall {median:.2f} s (CPU {statistics.median(cpus):.2f} s) — {verdict} the {args.target:.1f} s target"
    )
    return 0 if median <= args.target else 1


if __name__ == "__main__":
    sys.exit(main())
