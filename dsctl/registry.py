"""The store read as a registry: one version's whole story, and one stack's promotion history.

``dsctl model show`` and ``dsctl model history`` answer the on-call questions "what is this model, what was it
trained on, who validated it, where does it run" and "who promoted what into this stack, when and why" from the
records the store keeps (CONTRACTS §5: manifests, appended validation reports, promotion records). SSM's
parameter history is what the job actually read; it fills in where no record exists (promotions made before the
store kept records, or changes made outside dsctl -- which is exactly what ``status``/``doctor`` flag as a bypass
of the promotion gate).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from botocore.exceptions import ClientError

from components import naming
from dsctl import ssm_parameters
from dsctl.envs import Connection
from dsctl.models import PROMOTIONS_DIR, ModelStore, StoredVersion, check_version, error_code, is_denied
from dsctl.output import EXIT_FAILED, CommandError

RECORD = "store record"
"""History entry source: the promotion record dsctl appended to the store."""
PARAMETER_RECORD = "parameter record"
"""History entry source: dsctl's ``dsctl/promotion`` audit parameter (promotions made before store records)."""
OUTSIDE = "parameter history only"
"""History entry source: a ``model-key`` change no dsctl record explains (made outside dsctl: a gate bypass)."""


def _iso(moment: datetime | None) -> str | None:
    return moment.isoformat(timespec="seconds") if moment else None


def promotion_records(store: ModelStore, stack: str) -> list[dict[str, Any]]:
    """Every promotion/rollback record of ``stack`` in the store, over all versions, oldest first.

    A listing the caller may not make reads as "no records" (history then falls back to the parameters)."""
    found: list[dict[str, Any]] = []
    try:
        for version in store.versions():
            found += store.records(version, f"{PROMOTIONS_DIR}/{stack}")
    except ClientError as err:
        if not is_denied(error_code(err)):
            raise
    return sorted(found, key=lambda record: str(record.get("stored_at", "")).rsplit("/", 1)[-1])


def _take(pool: list[dict[str, Any]], version: str | None, sha256: str | None) -> dict[str, Any] | None:
    """Remove and return the oldest record in ``pool`` of ``version`` with ``sha256`` (records and parameter versions
    both come in time order, so the n-th change to a version pairs with its n-th record)."""
    for index, record in enumerate(pool):
        if record.get("version") == version and record.get("sha256") == sha256:
            return pool.pop(index)
    return None


@dataclass(frozen=True)
class History:
    """One stack's promotions, oldest first, and the records whose parameter change never took effect."""

    entries: list[dict[str, Any]]
    unapplied: list[dict[str, Any]]
    """Records with no matching ``model-key`` version: the parameter write failed, or SSM dropped the version."""

    @property
    def current(self) -> dict[str, Any] | None:
        return self.entries[-1] if self.entries else None


def _entry(change: ssm_parameters.Promotion, record: dict[str, Any] | None, source: str) -> dict[str, Any]:
    record = record or {}
    return {
        "action": record.get("action", "set"),
        "version": change.version,
        "model_key": change.model_key,
        "sha256": change.sha256,
        "at": record.get("at") or _iso(change.modified),
        "by": record.get("by") or change.modified_by,
        "reason": record.get("reason"),
        "forced": record.get("forced"),
        "validation": record.get("validation"),
        "from_version": record.get("from_version"),
        "gate": record.get("gate"),
        "parameter_version": change.parameter_version,
        "record": record.get("stored_at"),
        "source": source,
    }


def promotion_history(conn: Connection) -> History:
    """Every change of ``conn.env``'s promoted model: SSM's ``model-key`` history (what the job read), each entry
    explained by its store record, else by dsctl's audit parameter, else marked as made outside dsctl.

    The deployment's initial sentinel (parameter version 1, no model) is not a promotion and is left out.
    """
    store = ModelStore(conn.session, conn.env.artifact_bucket)
    records = promotion_records(store, conn.env.name)
    audit = ssm_parameters.promotion_records(conn.session, conn.env)
    entries = []
    for change in ssm_parameters.promotion_history(conn.session, conn.env):
        if change.parameter_version == 1 and change.model_key == naming.NO_MODEL_SENTINEL:
            continue
        record = _take(records, change.version, change.sha256)
        legacy = _take(audit, change.version, change.sha256)  # dsctl writes both: a store record consumes its twin
        if record is not None:
            entries.append(_entry(change, record, RECORD))
        else:
            entries.append(_entry(change, legacy, PARAMETER_RECORD if legacy else OUTSIDE))
    return History(entries, records)


def bypass_problem(conn: Connection) -> str | None:
    """A problem line when the promoted model was set outside dsctl (no promotion record explains the current
    ``model-key``: the promotion gate and its record were bypassed), else None."""
    current = promotion_history(conn).current
    if current is None or current["source"] != OUTSIDE:
        return None
    name = conn.env.parameter_name(naming.PARAM_MODEL_KEY)
    return (
        f"{name} = {current['model_key']} (parameter version {current['parameter_version']}, set by "
        f"{current['by'] or 'unknown'}) has no promotion record: it was changed outside dsctl, bypassing the "
        f"promotion gate; check who did it (dsctl model history --env {conn.env.name}), then promote a version "
        f"with dsctl model promote --env {conn.env.name} VERSION or roll back"
    )


def show_version(conn: Connection, version: str, running: dict[str, str | None]) -> dict[str, Any]:
    """Everything the store knows about ``version``: manifest, training lineage, every validation, every promotion
    record, the digest check, its replication state, and the environments running it now (``running``)."""
    check_version(version)
    store = ModelStore(conn.session, conn.env.artifact_bucket)
    manifest = store.manifest(version)
    if manifest is None:
        raise CommandError(
            f"version {version} is not published in s3://{store.bucket}/models/; "
            f"pick one from dsctl model list --env {conn.env.name}",
            EXIT_FAILED,
        )
    validations = store.validations(version)
    stored = StoredVersion(version, manifest, validations[-1] if validations else None)
    digest, detail = store.digest_verdict(version, stored.sha256)
    promotions = store.records(version, PROMOTIONS_DIR)
    return {
        "version": version,
        "sha256": stored.sha256,
        "created": stored.created,
        "model": store.url(version),
        "bucket": store.bucket,
        "digest": digest,
        "digest_detail": detail,
        "replication": store.replication_status(version),
        "training_input": manifest.get("training_input"),
        "training_rows": manifest.get("training_rows"),
        "libraries": manifest.get("libraries"),
        "validation": stored.validation_status,
        "validations": validations,
        "promotions": promotions,
        "environments": sorted(name for name, promoted in running.items() if promoted == version),
        "manifest": manifest,
    }
