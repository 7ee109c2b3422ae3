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

from job.errors import ExitCode, JobError, Stopped
from job.logs import setup_logging

log = logging.getLogger("job")


def _train(args: argparse.Namespace) -> int:
    from job.train import train

    train(args.input, args.version, args.output, args.schema, overwrite=args.overwrite)
    return ExitCode.OK


def _run(args: argparse.Namespace) -> int:
    from job.run import RunOptions, run_from_args

    options = RunOptions(
        run_id=args.run_id or os.environ.get("DS_RUN_ID") or None,
        overwrite=args.overwrite,
        environment=args.environment,
        compression=args.compression,
        metrics=args.metrics,
        fail_on_drift=args.fail_on_drift,
    )
    run_from_args(args.input, args.model, args.output, args.model_sha256, args.parameter_prefix, options)
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

    run = sub.add_parser(
        "run", parents=[common], help="transform a month of CSV into Parquet (SSM locations unless --input/...)"
    )
    run.add_argument("--input", help="CSV file, directory, glob, or s3:// object/prefix/glob")
    run.add_argument("--model", help="model.pkl or its directory, local or s3://")
    run.add_argument("--output", help="output root (local dir or s3://bucket[/prefix]); writes processed/{run_id}/")
    run.add_argument(
        "--model-sha256", help="expected digest (default: sha256 from the manifest.json next to the model)"
    )
    run.add_argument("--run-id", help="run id (default: $DS_RUN_ID, else a UTC timestamp)")
    run.add_argument("--overwrite", action="store_true", help="replace an already published run with the same id")
    run.add_argument(
        "--parameter-prefix", default=os.environ.get("DS_PARAMETER_PREFIX"), help="SSM prefix ($DS_PARAMETER_PREFIX)"
    )
    run.add_argument("--environment", default=os.environ.get("DS_ENVIRONMENT", "local"), help="metrics dimension")
    run.add_argument("--compression", default="snappy", choices=["snappy", "zstd", "lz4", "uncompressed"])
    run.add_argument(
        "--metrics",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="send CloudWatch metrics (default: in SSM mode only)",
    )
    run.add_argument(
        "--fail-on-drift",
        action=argparse.BooleanOptionalAction,
        default=os.environ.get("DS_FAIL_ON_DRIFT", "").lower() in ("1", "true", "yes"),
        help="fail (exit 13) before publishing when a feature drifted ($DS_FAIL_ON_DRIFT)",
    )
    run.set_defaults(handler=_run)

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
