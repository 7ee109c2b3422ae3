"""One run per environment at a time: a lease in the output bucket, ``leases/{environment}.json``.

``dsctl run`` refuses while a run is going, but a scheduled run and a manual one can still
start together; the job itself must refuse, or both would publish. The lease is taken with
S3 conditional writes, never a check-then-write: created with ``If-None-Match: *``, renewed
and taken over with ``If-Match: <etag>``, so of two contenders exactly one write succeeds.

- **Expiry**: the lease names when it expires; a run renews it every third of its lifetime.
  A run killed by SIGKILL or out-of-memory stops renewing, so a later run takes it over once
  it has expired instead of being blocked forever.
- **Batches of one run share it**: the lease is held by a run id, not by a process. A batch
  whose run id is the holder's takes it over (renewing it) instead of being refused, so the
  batches of one run (the scale-out issue) run side by side under their run's lease.
- **Release**: at the end the run deletes the lease if it still holds it; a sibling batch
  that is still running re-creates it at its next renewal.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError

from job import s3
from job.errors import ExitCode, JobError

if TYPE_CHECKING:
    from job.run import RunOptions, RunResult, RunSpec

log = logging.getLogger(__name__)

LEASES_PREFIX = "leases/"  # copy of components.naming.LEASES_PREFIX (tests/test_contract_constants.py)
DEFAULT_TTL_SECONDS = 600.0
"""Ten minutes: renewed every ~200 s, so a dead run blocks the next one for at most this long."""


def lease_key(environment: str) -> str:
    """``leases/{environment}.json``."""
    return f"{LEASES_PREFIX}{environment}.json"


@dataclass
class Lease:
    """A held lease; ``renew`` and ``release`` keep to the conditional-write protocol."""

    bucket: str
    environment: str
    run_id: str
    ttl: float = DEFAULT_TTL_SECONDS
    etag: str = ""
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    @property
    def key(self) -> str:
        return lease_key(self.environment)

    def _body(self) -> bytes:
        return json.dumps({"run_id": self.run_id, "expires": time.time() + self.ttl}).encode()

    def _read(self) -> tuple[dict[str, Any], str] | None:
        try:
            response = s3.s3_client().get_object(Bucket=self.bucket, Key=self.key)
        except ClientError as err:
            if s3.error_code(err) in ("NoSuchKey", "404"):
                return None
            raise self._failed(err, "read") from err
        try:
            holder = dict(json.loads(response["Body"].read()))
        except ValueError:
            holder = {}  # unreadable: treated as expired, so it cannot block runs forever
        return holder, str(response["ETag"])

    def _failed(self, err: ClientError, action: str) -> JobError:
        """The lease lives in the output bucket: failing to use it is an output failure, before anything is read."""
        return JobError(
            ExitCode.OUTPUT_FAILED,
            f"cannot {action} the run lease s3://{self.bucket}/{self.key} ({s3.error_code(err)}) — check the "
            "output-bucket parameter and the task role's s3:GetObject/PutObject on leases/*",
        )

    def _put(self, if_match: str | None = None) -> bool:
        """One conditional write (create when ``if_match`` is None, else replace that version); False when S3 says
        another writer got there first."""
        client, body = s3.s3_client(), self._body()
        try:
            if if_match is None:
                response = client.put_object(Bucket=self.bucket, Key=self.key, Body=body, IfNoneMatch="*")
            else:
                response = client.put_object(Bucket=self.bucket, Key=self.key, Body=body, IfMatch=if_match)
        except ClientError as err:
            if s3.error_code(err) in ("PreconditionFailed", "ConditionalRequestConflict", "NoSuchKey", "412"):
                return False
            raise self._failed(err, "write") from err
        self.etag = str(response["ETag"])
        return True

    def take(self) -> None:
        """Take the lease, or raise RUN_IN_PROGRESS naming the run that holds it."""
        for _ in range(3):  # a lost race re-reads once more; more contenders than that is a refusal
            if self._put():
                return
            found = self._read()
            if found is None:
                continue  # released meanwhile: try to create it again
            holder, etag = found
            mine = holder.get("run_id") == self.run_id
            expired = float(holder.get("expires", 0)) < time.time()
            if not (mine or expired):
                raise JobError(
                    ExitCode.RUN_IN_PROGRESS,
                    f"run {holder.get('run_id')} holds the {self.environment} lease (s3://{self.bucket}/{self.key}) "
                    f"until {time.strftime('%H:%M:%S UTC', time.gmtime(float(holder['expires'])))} — one run per "
                    "environment at a time: wait for it, or stop it (dsctl runs stop RUN_ID)",
                )
            if self._put(etag):
                if not mine:
                    log.warning("took over the expired lease of run %s", holder.get("run_id"))
                return
        raise JobError(ExitCode.RUN_IN_PROGRESS, f"another run took the {self.environment} lease first — try again")

    def renew(self) -> None:
        """Extend the lease; if it was released by a sibling batch or lost, take it again (or raise)."""
        if not self._put(self.etag):
            self.take()

    def _keep(self) -> None:
        while not self._stop.wait(self.ttl / 3):
            try:
                self.renew()
            except Exception as exc:  # the run itself decides; a lost lease shows in the log and the next take
                log.warning("could not renew the run lease %s: %s", self.key, exc)

    def start_renewing(self) -> None:
        self._thread = threading.Thread(target=self._keep, name="run-lease", daemon=True)
        self._thread.start()

    def detach(self) -> None:
        """Stop renewing but leave the lease in place: the next step of the same run (a scaled-out run's batches and
        commit, job.batches) takes it over by run id; if none comes, it expires."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join()

    def release(self) -> None:
        """Stop renewing and delete the lease if this run still holds it (never another run's)."""
        self.detach()
        try:
            found = self._read()
            if found is not None and found[0].get("run_id") == self.run_id:
                s3.s3_client().delete_object(Bucket=self.bucket, Key=self.key)
        except Exception as exc:  # it expires by itself; releasing early only saves the next run the wait
            log.warning("could not release the run lease %s: %s", self.key, exc)


def take_lease(bucket: str, environment: str, run_id: str, ttl: float = DEFAULT_TTL_SECONDS) -> Lease:
    """Take ``environment``'s lease for ``run_id`` and keep renewing it until ``release``."""
    lease = Lease(bucket, environment, run_id, ttl)
    lease.take()
    lease.start_renewing()
    return lease


def leased(
    run: Callable[[RunSpec, RunOptions], RunResult], *, keep_on_success: bool = False, keep_on_failure: bool = False
) -> Callable[[RunSpec, RunOptions], RunResult]:
    """``run`` under its environment's lease in the output bucket (an environment's run: ``spec.output`` is
    ``s3://bucket``); the run id must already be fixed (``job.run_record.recorded`` does that).

    A step of a scaled-out run keeps the lease for the steps after it: the plan on success (its batches follow), a
    batch always (its siblings and the commit follow, or a retry of itself).
    """

    def under_lease(spec: RunSpec, options: RunOptions) -> RunResult:
        bucket, _ = s3.split_s3(spec.output)
        lease = take_lease(bucket, options.environment, str(options.run_id))
        keep = keep_on_failure
        try:
            result = run(spec, options)
            keep = keep_on_success
            return result
        finally:
            if keep:
                lease.detach()
            else:
                lease.release()

    return under_lease
