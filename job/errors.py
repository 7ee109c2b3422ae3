"""Error kinds of the job, each with its own process exit code.

Operators and the state machine see only the exit code and one log line, so every
failure the job can anticipate gets a distinct code and a message that names the
problem and the fix. Codes are stable: they are documented in docs/job.md.
"""

from __future__ import annotations

from enum import IntEnum


class ExitCode(IntEnum):
    """Process exit codes of ``python -m job``; one per error kind."""

    OK = 0
    UNEXPECTED = 1  # a bug or an unforeseen failure; also `validate` when the model did not pass
    USAGE = 2  # bad command line, bad schema file, bad version string
    PARAMETER_MISSING = 3  # an SSM parameter (or an environment variable naming them) is absent
    MODEL_MISSING = 4  # no model promoted, or the model object is not where the key says
    DIGEST_MISMATCH = 5  # model.pkl's sha256 differs from the promoted digest
    ACCESS_DENIED = 6  # S3/SSM/KMS refused us; names the bucket and the policy to check
    MISSING_COLUMNS = 7  # the CSV lacks required columns of the model's schema
    MALFORMED_CSV = 8  # the CSV cannot be parsed (bad quoting, bad encoding); ragged rows are rejected rows
    INPUT_NOT_FOUND = 9  # the input object, prefix or glob matched nothing
    INVALID_MODEL = 10  # the file is not a PreprocessingModel pickle (other class, corrupt, wrong format)
    OUTPUT_FAILED = 11  # writing or publishing the output failed; nothing was published
    ROW_ACCOUNTING = 12  # rows_in != rows_out + rows_rejected: refused to publish
    DRIFT = 13  # --fail-on-drift and a feature's PSI reached the threshold: refused to publish
    RUN_IN_PROGRESS = 14  # another run of the environment holds its lease (job.lease); nothing was done
    BATCH_FAILED = 15  # a batch of a scaled-out run failed for good or never ran (job.commit); nothing was published


class JobError(Exception):
    """An anticipated failure: one line for the operator and the exit code for its kind."""

    def __init__(self, code: ExitCode, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message

    def __str__(self) -> str:
        return self.message


class Stopped(BaseException):
    """SIGTERM (ECS stopping the task): unwinds like Ctrl-C so the run cleans its staging area up."""
