"""Command line of the job: ``python -m job {run,train,validate}``.

Every anticipated failure is a JobError: logged as one line and turned into its exit
code (job.errors.ExitCode); anything else is logged with its traceback and exits 1.
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from job.errors import ExitCode, JobError, Stopped
from job.logs import setup_logging

if TYPE_CHECKING:
    from job.run import RunOptions

log = logging.getLogger("job")


def _train(args: argparse.Namespace) -> int:
    from job.train import train

    train(args.input, args.version, args.output, args.schema, overwrite=args.overwrite)
    return ExitCode.OK


def _options(args: argparse.Namespace) -> RunOptions:
    from job.run import RunOptions

    return RunOptions(
        run_id=args.run_id or os.environ.get("DS_RUN_ID") or None,
        overwrite=getattr(args, "overwrite", False),
        environment=args.environment,
        compression=getattr(args, "compression", "snappy"),
        metrics=getattr(args, "metrics", None),
        fail_on_drift=getattr(args, "fail_on_drift", False),
    )


def _locations(args: argparse.Namespace) -> tuple[str | None, str | None, str | None, str | None, str | None]:
    return args.input, args.model, args.output, args.model_sha256, args.parameter_prefix


def _run(args: argparse.Namespace) -> int:
    from job.run import run_from_args

    if args.batch is not None:  # one batch of a scaled-out run (job.plan)
        from job.batches import parse_batch
        from job.steps import batch_from_args

        batch_from_args(_locations(args), _options(args), parse_batch(args.batch))
        return ExitCode.OK
    run_from_args(*_locations(args), _options(args))
    return ExitCode.OK


def _plan(args: argparse.Namespace) -> int:
    from job.steps import plan_from_args

    plan_from_args(_locations(args), _options(args))
    return ExitCode.OK


def _commit(args: argparse.Namespace) -> int:
    from job.steps import commit_from_args

    commit_from_args(_locations(args), _options(args), abandon=args.abandon, stopped=args.stopped)
    return ExitCode.OK


def _validate(args: argparse.Namespace) -> int:
    from job.validate import format_report, validate_model

    report = validate_model(
        args.model,
        args.test_data,
        expected_sha256=args.model_sha256,
        max_rejected_share=args.max_rejected_share,
        report_path=args.report,
    )
    print(format_report(report))
    return ExitCode.OK if report["passed"] else ExitCode.UNEXPECTED


def build_parser() -> argparse.ArgumentParser:
    """The argparse tree (exposed for docs and tests)."""
    parser = argparse.ArgumentParser(prog="python -m job", description="ds-preprocessing job: train, run, validate")
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--log-format", choices=["auto", "json", "text"], default="auto", help="json unless a TTY")
    sub = parser.add_subparsers(dest="command", required=True)

    train = sub.add_parser("train", parents=[common], help="fit a model from a CSV and write model.pkl + manifest.json")
    train.add_argument("--input", required=True, help="CSV file, directory, glob or s3:// URL/prefix")
    train.add_argument("--version", required=True, help="semantic version, e.g. 1.2.0")
    train.add_argument("--output", required=True, type=Path, help="directory for model.pkl and manifest.json")
    train.add_argument(
        "--schema", type=Path, help="schema JSON (default: the demo schema, or inferred from the header)"
    )
    train.add_argument(
        "--overwrite", action="store_true", help="replace a model already in --output (refused by default)"
    )
    train.set_defaults(handler=_train)

    locations = argparse.ArgumentParser(add_help=False)
    locations.add_argument("--input", help="CSV file, directory, glob, or s3:// object/prefix/glob")
    locations.add_argument("--model", help="model.pkl or its directory, local or s3://")
    locations.add_argument(
        "--output", help="output root (local dir or s3://bucket[/prefix]); writes processed/{run_id}/"
    )
    locations.add_argument(
        "--model-sha256", help="expected digest (default: sha256 from the manifest.json next to the model)"
    )
    locations.add_argument("--run-id", help="run id (default: $DS_RUN_ID, else a UTC timestamp)")
    locations.add_argument(
        "--parameter-prefix", default=os.environ.get("DS_PARAMETER_PREFIX"), help="SSM prefix ($DS_PARAMETER_PREFIX)"
    )
    locations.add_argument("--environment", default=os.environ.get("DS_ENVIRONMENT", "local"), help="metrics dimension")
    publishing = argparse.ArgumentParser(add_help=False)
    publishing.add_argument(
        "--metrics",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="send CloudWatch metrics (default: in SSM mode only)",
    )
    publishing.add_argument(
        "--fail-on-drift",
        action=argparse.BooleanOptionalAction,
        default=os.environ.get("DS_FAIL_ON_DRIFT", "").lower() in ("1", "true", "yes"),
        help="fail (exit 13) before publishing when a feature drifted ($DS_FAIL_ON_DRIFT)",
    )

    run = sub.add_parser(
        "run",
        parents=[common, locations, publishing],
        help="transform a month of CSV into Parquet (SSM locations unless --input/...)",
    )
    run.add_argument("--overwrite", action="store_true", help="replace an already published run with the same id")
    run.add_argument("--compression", default="snappy", choices=["snappy", "zstd", "lz4", "uncompressed"])
    run.add_argument(
        "--batch",
        default=os.environ.get("DS_BATCH") or None,
        help="process only this batch of the run's plan into its staging (`plan` first; $DS_BATCH)",
    )
    run.set_defaults(handler=_run)

    plan = sub.add_parser(
        "plan",
        parents=[common, locations],
        help="split a prefix of many CSVs into size-balanced batches for `run --batch N` and `commit`",
    )
    plan.add_argument("--overwrite", action="store_true", help="the run replaces a published run with the same id")
    plan.set_defaults(handler=_plan)

    commit = sub.add_parser(
        "commit",
        parents=[common, locations, publishing],
        help="publish a planned run from its batches' staged output (all or nothing)",
    )
    commit.add_argument(
        "--abandon", action="store_true", help="a batch failed for good: remove the staged batches, publish nothing"
    )
    commit.add_argument(
        "--stopped",
        action="store_true",
        help="the run was stopped (local `dsctl runs stop`): as --abandon, but recorded STOPPED (exit 143), not FAILED",
    )
    commit.set_defaults(handler=_commit)

    val = sub.add_parser(
        "validate", parents=[common], help="check a model against test data; exit 0 when it passes, 1 when not"
    )
    val.add_argument("--model", required=True, help="model.pkl or its directory, local or s3://")
    val.add_argument("--test-data", required=True, help="CSV file, directory, glob or s3:// URL")
    val.add_argument("--model-sha256", help="expected digest (default: from manifest.json next to the model)")
    val.add_argument("--max-rejected-share", type=float, default=0.05, help="fail above this share of rejected rows")
    val.add_argument("--report", type=Path, help="write the report JSON here")
    val.set_defaults(handler=_validate)
    return parser


def _on_sigterm(signum: int, frame: object) -> None:
    raise Stopped


def main(argv: Sequence[str] | None = None) -> int:
    """Parse, run, and map the outcome to an exit code."""
    parser = build_parser()
    args = parser.parse_args(argv)
    setup_logging({"auto": None, "json": True, "text": False}[args.log_format])
    handler: Callable[[argparse.Namespace], int] = args.handler
    previous = signal.signal(signal.SIGTERM, _on_sigterm)
    try:
        return int(handler(args))
    except JobError as exc:
        log.error("%s", exc.message, extra={"fields": {"exit_code": int(exc.code), "error": exc.code.name}})
        return int(exc.code)
    except KeyboardInterrupt:
        log.error("interrupted — nothing was published")
        return 130
    except Stopped:
        log.error("stopped (SIGTERM) — nothing was published")
        return 128 + signal.SIGTERM
    except Exception:
        log.exception("unexpected failure — nothing was published; please report this with the log")
        return int(ExitCode.UNEXPECTED)
    finally:
        signal.signal(signal.SIGTERM, previous)


if __name__ == "__main__":
    sys.exit(main())
