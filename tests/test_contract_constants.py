"""The job's copies of the contract constants equal the originals.

``job/`` is the Docker build context of the job image and imports nothing from ``components``/``dsctl``, so where
it needs a contract value (SSM parameter keys, the not-promoted sentinel, the output bucket's prefixes) it keeps
its own copy. These tests are what ties each copy to the one declaration the program and dsctl use.
"""

from __future__ import annotations

import ast
from pathlib import Path

from components import naming
from job import lease, metrics, outputs, params, plan, run, run_record

JOB_DIR = Path(__file__).resolve().parent.parent / "job"
_DRIFTED = {"available": True, "max_psi": 0.5, "drifted_features": ["amount"], "features": {}}


def test_the_job_reads_exactly_the_parameters_the_stack_creates() -> None:
    assert sorted(params.PARAMETERS) == sorted(naming.PARAMETER_KEYS)
    assert params.INPUT_KEY == naming.PARAM_INPUT_KEY


def test_the_not_promoted_sentinel_is_the_one_the_stack_writes() -> None:
    assert params.NOT_PROMOTED == naming.NO_MODEL_SENTINEL


def test_the_job_publishes_and_stages_under_the_prefixes_the_stack_grants_and_expires() -> None:
    assert outputs.PROCESSED_PREFIX == naming.PROCESSED_PREFIX
    assert run_record.RUNS_PREFIX == naming.RUNS_PREFIX
    assert lease.LEASES_PREFIX == naming.LEASES_PREFIX
    assert outputs.STAGING_PREFIX == naming.STAGING_PREFIX
    assert outputs.run_prefix("r1") == f"{naming.PROCESSED_PREFIX}r1/"
    assert outputs.staging_prefix("r1") == f"{naming.STAGING_PREFIX}r1/"


def test_the_plan_is_where_the_state_machine_reads_it() -> None:
    assert plan.BATCHES_DIR == naming.BATCHES_DIR and plan.ITEMS_FILE == naming.BATCH_ITEMS_FILE
    assert plan.MAX_PARALLEL_ENV == naming.MAX_PARALLEL_ENV


def test_the_job_records_the_digest_the_task_definition_passes() -> None:
    assert run.IMAGE_DIGEST_ENV == naming.IMAGE_DIGEST_ENV


def test_the_job_sends_metrics_where_the_stack_alarms_and_grants() -> None:
    assert metrics.NAMESPACE == naming.METRIC_NAMESPACE
    sent = {datum["MetricName"] for datum in metrics.run_metrics("dev", 1.0, 1, 1, 0, _DRIFTED)}
    assert naming.DRIFTED_FEATURES_METRIC in sent
    assert all(d["Name"] == naming.METRIC_DIMENSION for d in metrics.run_metrics("dev", 1.0, 1, 1, 0)[0]["Dimensions"])


def test_the_job_imports_nothing_outside_its_build_context() -> None:
    """The copies exist because the image holds only ``job/``: an import of components or dsctl would break it."""
    outside = []
    for path in sorted(JOB_DIR.glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            modules = (
                [alias.name for alias in node.names]
                if isinstance(node, ast.Import)
                else [node.module or ""]
                if isinstance(node, ast.ImportFrom)
                else []
            )
            outside += [f"{path.name}: {m}" for m in modules if m.split(".")[0] in {"components", "dsctl", "policy"}]
    assert outside == []
