"""``make bench`` (``python -m job.bench [--rows N] [--shapes a,b]``): the job against Polars' own floor, per shape.

For each data shape (job.shapes: demo, wide, text, timestamps, gzip, split, ragged) one
run generates a month (cached under .bench/), trains the model on a separate sample of
the same shape, then times in fresh worker processes, so each has its own peak RSS:
- floor: ``scan_csv(ignore_errors=True) -> sink_parquet`` on the same input, no transform (Polars defaults:
  inferred types, zstd),
- job: ``run_job`` on local files (validate, transform, reject, count, publish),
- peer (demo shape only): pandas + scikit-learn (job.peer) doing the same transform,
checks that job and peer outputs agree to 1e-9 and prints the tables. Times are the
work inside each worker, median of ``--repeats``: Polars is imported before the clock
starts for every variant, the job's own modules (job.run and what it imports) after it,
because a real run pays for them and the floor does not. Workers import neither numpy nor
the shape generators, so neither inflates the peak RSS. Floor and job runs are
interleaved so background load hits both alike.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from job.shapes import Shape

BENCH_DIR = Path(os.environ.get("DS_BENCH_DIR", ".bench"))
TRAIN_ROWS = 200_000
TOLERANCE = 1e-9


def _peak_rss_mb() -> float:
    """This process's peak RSS (VmHWM). Not ru_maxrss: Linux carries the forking parent's peak into it across exec."""
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024  # kB
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # not Linux: best available


def _cpu_seconds() -> float:
    """User + system CPU of this process: less sensitive than wall time to other load on the machine."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _worker(variant: str, data: str, model: str, out: str) -> dict[str, Any]:
    """Run one variant in this process; returns seconds and peak RSS."""
    import polars as pl

    from job.schema import DEFAULT_SCHEMA

    shutil.rmtree(out, ignore_errors=True)
    Path(out).mkdir(parents=True)
    if variant == "peer":
        import joblib

        from job.peer import run_peer

        transformer = joblib.load(model)
        start, cpu_start = time.perf_counter(), _cpu_seconds()
        counts = run_peer(data, f"{out}/peer.parquet", DEFAULT_SCHEMA, transformer)
    elif variant == "floor":
        source = f"{data}/*.csv" if Path(data).is_dir() else data
        start, cpu_start = time.perf_counter(), _cpu_seconds()
        # typed columns as Polars infers them; the month's bad cells become nulls (and surplus fields are dropped)
        # instead of failing the scan
        scan = pl.scan_csv(source, ignore_errors=True, truncate_ragged_lines=True)
        scan.sink_parquet(f"{out}/floor.parquet")
        counts = {}
    else:
        start, cpu_start = time.perf_counter(), _cpu_seconds()
        from job.run import RunOptions, RunSpec, run_job  # the job's fixed start-up counts (see the docstring)

        result = run_job(RunSpec(data, model, out), RunOptions(run_id="bench", metrics=False))
        assert result.manifest is not None
        counts = {k: result.manifest[k] for k in ("rows_in", "rows_out", "rows_rejected")}
    seconds = time.perf_counter() - start
    return {"seconds": seconds, "cpu_seconds": _cpu_seconds() - cpu_start, "peak_rss_mb": _peak_rss_mb(), **counts}


def _spawn(variant: str, data: Path, model: Path, out: Path) -> dict[str, Any]:
    cmd = [sys.executable, "-m", "job.bench", "--worker", variant, str(data), str(model), str(out)]
    done = subprocess.run(cmd, check=True, capture_output=True, text=True)
    return dict(json.loads(done.stdout.strip().splitlines()[-1]))


def _generated(shape: Shape, rows: int, seed: int) -> Path:
    """The shape's month of ``rows`` rows (generated once, then cached under BENCH_DIR)."""
    base = BENCH_DIR / f"{shape.name}-{rows}-{seed}"
    for candidate in (base.with_suffix(".csv"), base.with_suffix(".csv.gz"), base.with_suffix("")):
        if candidate.exists():
            return candidate
    print(f"generating {shape.name}: {rows:,} rows ...", flush=True)
    return shape.write(base, rows, seed)


def _prepare(shape: Shape, rows: int, peer: bool) -> tuple[Path, Path, Path | None]:
    """Generate the month and a training sample of the shape (cached) and train the model (and the peer's)."""
    from job.artifact import save_model
    from job.fit import fit
    from job.shapes import SHAPES
    from job.transform import scan_input

    BENCH_DIR.mkdir(exist_ok=True)
    month = _generated(shape, rows, seed=7)
    train = _generated(SHAPES["demo"] if shape.schema is SHAPES["demo"].schema else shape, TRAIN_ROWS, seed=11)
    model_dir = BENCH_DIR / f"model-{shape.name}"
    save_model(fit(scan_input([str(train)]), shape.schema, "1.0.0"), model_dir)
    peer_model = None
    if peer:
        import joblib

        from job.peer import fit_peer

        peer_model = BENCH_DIR / "peer-model.joblib"
        joblib.dump(fit_peer(str(train), shape.schema), peer_model)
    return month, model_dir, peer_model


def _model_load_ms(model_dir: Path) -> float:
    """Median time to verify and unpickle the model, in a fresh process (cold imports excluded)."""
    code = (
        "import time,statistics; from job.artifact import load_model, read_manifest; "
        f"d={str(model_dir)!r}; s=read_manifest(d)['sha256']; ts=[]\n"
        "for _ in range(20):\n t=time.perf_counter(); load_model(d+'/model.pkl', s); ts.append(time.perf_counter()-t)\n"
        "print(statistics.median(ts)*1000)"
    )
    return float(subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True).stdout)


def _row(name: str, runs: list[dict[str, Any]], rows: int, floor: dict[str, float]) -> dict[str, Any]:
    seconds = statistics.median(r["seconds"] for r in runs)
    cpu = statistics.median(r["cpu_seconds"] for r in runs)
    return {
        "variant": name,
        "seconds": seconds,
        "x_floor": seconds / floor["seconds"],
        "cpu_seconds": cpu,
        "cpu_x_floor": cpu / floor["cpu_seconds"],
        "rows_per_s": rows / seconds,
        "peak_rss_mb": max(r["peak_rss_mb"] for r in runs),
    }


def format_table(rows: list[dict[str, Any]]) -> str:
    """The results as a Markdown table (pasted into docs/job.md)."""
    lines = [
        "| variant | wall time (s) | x floor | CPU time (s) | CPU x floor | rows/s | peak RSS (MB) |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        cells = [r["variant"], f"{r['seconds']:.2f}", f"{r['x_floor']:.2f}", f"{r['cpu_seconds']:.2f}"]
        cells += [f"{r['cpu_x_floor']:.2f}", f"{r['rows_per_s']:,.0f}"]
        lines.append("| " + " | ".join([*cells, f"{r['peak_rss_mb']:.0f}"]) + " |")
    return "\n".join(lines)


def format_shapes(results: list[dict[str, Any]]) -> str:
    """One line per shape: the job against its own floor (the table in docs/job.md)."""
    lines = [
        "| shape | rows | input MB | floor wall (s) | job wall (s) | wall x floor | floor CPU (s) | job CPU (s) "
        "| CPU x floor | floor RSS (MB) | job RSS (MB) | RSS x floor |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in results:
        floor, job = r["table"][0], r["table"][1]
        cells = [r["shape"], f"{r['rows']:,}", f"{r['input_bytes'] / 1e6:,.0f}"]
        cells += [f"{floor['seconds']:.2f}", f"{job['seconds']:.2f}", f"{job['x_floor']:.2f}"]
        cells += [f"{floor['cpu_seconds']:.2f}", f"{job['cpu_seconds']:.2f}", f"{job['cpu_x_floor']:.2f}"]
        rss = job["peak_rss_mb"] / floor["peak_rss_mb"]
        cells += [f"{floor['peak_rss_mb']:.0f}", f"{job['peak_rss_mb']:.0f}", f"{rss:.2f}"]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def format_flatness(earlier: list[dict[str, Any]], later: list[dict[str, Any]]) -> str:
    """Peak RSS of floor and job per shape at two row counts: streaming means the job's growth is the floor's."""
    before = {r["shape"]: r for r in earlier}
    lines = [
        f"| shape | floor RSS (MB) {earlier[0]['rows']:,} -> {later[0]['rows']:,} | growth "
        f"| job RSS (MB) {earlier[0]['rows']:,} -> {later[0]['rows']:,} | growth |",
        "|---|---:|---:|---:|---:|",
    ]
    for r in later:
        if r["shape"] not in before:
            continue
        cells = [r["shape"]]
        for variant in (0, 1):  # floor, job
            small, big = before[r["shape"]]["table"][variant]["peak_rss_mb"], r["table"][variant]["peak_rss_mb"]
            cells += [f"{small:.0f} -> {big:.0f}", f"{big / small:.2f}x"]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def _files(path: Path) -> list[Path]:
    """The month's input files: the file itself, or a split month's CSVs."""
    return sorted(path.glob("*.csv")) if path.is_dir() else [path]


def _size(path: Path) -> int:
    return sum(file.stat().st_size for file in _files(path))


def _warm(path: Path) -> None:
    """Read the month once so every timed variant finds it in the page cache.

    Otherwise the first variant (the floor) pays the disk reads of a month just generated
    or evicted by the previous shape's: measured 28 s of floor wall time for 12 s of CPU.
    """
    for file in _files(path):
        with file.open("rb") as handle:
            while handle.read(1 << 24):
                pass


def bench_shape(shape: Shape, rows: int, repeats: int, peer: bool) -> dict[str, Any]:
    """One shape: floor and job interleaved ``repeats`` times (and the peer once, if asked)."""
    month, model_dir, peer_model = _prepare(shape, rows, peer)
    _warm(month)
    out = BENCH_DIR / "out"
    floors, jobs = [], []
    for _ in range(repeats):  # interleaved, so background load affects both alike
        floors.append(_spawn("floor", month, model_dir, out / "floor"))
        jobs.append(_spawn("job", month, model_dir, out / "job"))
    floor = {key: statistics.median(r[key] for r in floors) for key in ("seconds", "cpu_seconds")}
    table = [
        _row("floor: scan_csv -> sink_parquet", floors, rows, floor),
        _row("job: python -m job run", jobs, rows, floor),
    ]
    results: dict[str, Any] = {
        "shape": shape.name,
        "description": shape.description,
        "rows": rows,
        "input_bytes": _size(month),
        "repeats": repeats,
        "job_counts": jobs[-1],
    }
    if peer and peer_model is not None:
        peers = [_spawn("peer", month, peer_model, out / "peer")]
        table.append(_row("peer: pandas + scikit-learn", peers, rows, floor))
        from job.peer import max_difference

        results["max_abs_difference"] = max_difference(
            str(out / "job/processed/bench/part-00000.parquet"), str(out / "peer/peer.parquet")
        )
        results["peer_counts"] = {k: v for k, v in peers[0].items() if k.startswith("rows")}
        results["peer_over_job"] = table[2]["seconds"] / table[1]["seconds"]
        results["model_load_ms"] = _model_load_ms(model_dir)
    results["table"] = table
    return results


def bench(rows: int, repeats: int, peer: bool, shapes: list[str]) -> list[dict[str, Any]]:
    """Every shape in turn; results also written to .bench/results-{rows}.json."""
    from job.shapes import SHAPES

    results = [bench_shape(SHAPES[name], rows, repeats, peer and name == "demo") for name in shapes]
    (BENCH_DIR / f"results-{rows}.json").write_text(json.dumps(results, indent=2) + "\n")
    return results


def main(argv: list[str] | None = None) -> int:
    """CLI: ``--rows N`` (default 10M), ``--shapes``, ``--repeats``, ``--no-peer``; or an internal ``--worker`` call."""
    parser = argparse.ArgumentParser(prog="python -m job.bench", description=__doc__)
    parser.add_argument("--rows", type=int, default=10_000_000)
    parser.add_argument("--repeats", type=int, default=1)
    parser.add_argument(
        "--shapes", help="comma-separated (default: all) of demo, wide, text, timestamps, gzip, split, ragged"
    )
    parser.add_argument("--no-peer", action="store_true", help="skip pandas + scikit-learn (RSS-flatness runs)")
    parser.add_argument(
        "--flat-from",
        type=int,
        metavar="ROWS",
        help="also compare each shape's peak RSS with the run at ROWS rows (.bench/results-ROWS.json)",
    )
    parser.add_argument("--worker", nargs=4, metavar=("VARIANT", "DATA", "MODEL", "OUT"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        print(json.dumps(_worker(*args.worker)))
        return 0
    from job.shapes import SHAPES  # numpy and the generators: imported by the driver only, never by a worker

    shapes = [name.strip() for name in (args.shapes or ",".join(SHAPES)).split(",") if name.strip()]
    unknown = [name for name in shapes if name not in SHAPES]
    if unknown:
        parser.error(f"unknown shapes {unknown}; choose from {list(SHAPES)}")
    results = bench(args.rows, args.repeats, not args.no_peer, shapes)
    print(f"\n{args.rows:,} rows per shape, {os.cpu_count()} cores, median of {args.repeats}")
    print(format_shapes(results))
    if args.flat_from:
        earlier = BENCH_DIR / f"results-{args.flat_from}.json"
        if not earlier.exists():
            parser.error(f"no results at {args.flat_from:,} rows in {earlier}: run --rows {args.flat_from} first")
        print(f"\npeak RSS from {args.flat_from:,} to {args.rows:,} rows (flat: the job grows as its floor does)")
        print(format_flatness(json.loads(earlier.read_text()), results))
    agree = True
    for result in results:
        if "max_abs_difference" not in result:
            continue
        print(f"\n{result['shape']} with the peer:")
        print(format_table(result["table"]))
        print(f"model load: {result['model_load_ms']:.2f} ms")
        agree = result["max_abs_difference"] <= TOLERANCE and result["peer_counts"] == {
            k: result["job_counts"][k] for k in result["peer_counts"]
        }
        print(f"peer / job: {result['peer_over_job']:.2f}x; job vs peer max |diff| {result['max_abs_difference']:.2e}")
        print(f"outputs agree to {TOLERANCE:g}: {'yes' if agree else 'NO'}")
    return 0 if agree else 1


if __name__ == "__main__":
    sys.exit(main())
