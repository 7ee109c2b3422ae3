"""``make report-check``: open a run's report.html in headless Chromium, screenshot it, fail on console errors.

Not part of ``make test`` (it needs the Debian ``chromium`` package and a few seconds).
It trains on a synthetic sample, runs a month with a shifted feature and a malformed
row (so every section of the report has content), then loads the page with the network
features of Chromium switched off: a report that needed the network, or logged anything
to the console, fails here. Dev-only (numpy for the data), kept out of the image.
"""

from __future__ import annotations

import argparse
import re
import shutil
import subprocess
import sys
from pathlib import Path

import polars as pl

from job.cli import main as job_main
from job.synthetic import chunk, write_month

FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    "--enable-logging=stderr",
    "--v=0",
    "--window-size=1200,2000",
]
# what Chromium writes to stderr for a page's console messages and failed loads
PROBLEM = re.compile(r"CONSOLE|Uncaught|net::ERR_|Failed to load resource", re.IGNORECASE)


def make_report(work: Path) -> Path:
    """A published run's report.html, from synthetic data with every kind of content."""
    train = write_month(work / "train.csv", 5_000, seed=3)
    assert job_main(["train", "--input", str(train), "--version", "1.0.0", "--output", str(work / "model")]) == 0
    frame = chunk(0, 5_000, seed=5)
    month = work / "month.csv"
    frame.with_columns((pl.col("score").cast(pl.Float64, strict=False) + 1).cast(pl.String)).write_csv(month)
    with month.open("a") as handle:
        handle.write("9999999,2026-10-02T00:00:00,1.0,2\n")  # malformed: 4 fields
    args = ["run", "--input", str(month), "--model", str(work / "model"), "--output", str(work / "out")]
    assert job_main([*args, "--run-id", "report-check", "--log-format", "text"]) == 0
    return work / "out/processed/report-check/report.html"


def check(report: Path, screenshot: Path, browser: str) -> list[str]:
    """Problems Chromium reported while rendering ``report`` (empty: none); writes the screenshot."""
    screenshot.unlink(missing_ok=True)
    command = [browser, *FLAGS, f"--screenshot={screenshot}", report.resolve().as_uri()]
    done = subprocess.run(command, capture_output=True, text=True, timeout=120, check=False)
    problems = [line for line in done.stderr.splitlines() if PROBLEM.search(line)]
    if done.returncode != 0:
        problems.append(f"{browser} exited {done.returncode}: {done.stderr.strip()[-500:]}")
    if not screenshot.exists() or screenshot.stat().st_size < 10_000:
        problems.append(f"no screenshot at {screenshot} (or an empty one)")
    return problems


def main(argv: list[str] | None = None) -> int:
    """CLI: ``python -m job.report_check [--work DIR] [--browser chromium]``."""
    parser = argparse.ArgumentParser(prog="python -m job.report_check", description=__doc__)
    parser.add_argument("--work", type=Path, default=Path(".report-check"))
    parser.add_argument("--browser", default=shutil.which("chromium") or "chromium")
    args = parser.parse_args(argv)
    if not shutil.which(args.browser):
        print(f"{args.browser} not found — install the Debian package: apt-get install chromium", file=sys.stderr)
        return 2
    shutil.rmtree(args.work, ignore_errors=True)
    args.work.mkdir(parents=True)
    report = make_report(args.work)
    screenshot = args.work / "report.png"
    problems = check(report, screenshot, args.browser)
    for problem in problems:
        print(f"report-check: {problem}", file=sys.stderr)
    print(f"report-check: {'FAILED' if problems else 'ok'}: {report} -> {screenshot}")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
