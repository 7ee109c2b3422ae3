"""Run metrics to CloudWatch (namespace DS/Pipeline, dimension Environment).

Metrics are for dashboards and alarms, not for correctness: a failure to send them
is logged as a warning and never fails a run whose data was published.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from botocore.exceptions import BotoCoreError, ClientError

from job import s3

if TYPE_CHECKING:
    from mypy_boto3_cloudwatch.type_defs import DimensionTypeDef, MetricDatumTypeDef

NAMESPACE = "DS/Pipeline"
BATCH = 20  # metric data per PutMetricData call (the API's long-standing limit; newer accounts allow more)
log = logging.getLogger(__name__)


def drift_metrics(environment: str, drift: Mapping[str, Any]) -> list[MetricDatumTypeDef]:
    """MaxPSI and DriftedFeatures (dimension Environment: what the stack's alarm watches), and per feature PSI and
    UnseenCategoryShare (dimensions Environment, Feature: for dashboards; they change with every model)."""
    if not drift.get("available"):
        return []
    env: list[DimensionTypeDef] = [{"Name": "Environment", "Value": environment}]
    data: list[MetricDatumTypeDef] = [
        {"MetricName": "MaxPSI", "Value": float(drift["max_psi"]), "Unit": "None", "Dimensions": env},
        {"MetricName": "DriftedFeatures", "Value": len(drift["drifted_features"]), "Unit": "Count", "Dimensions": env},
    ]
    for name, feature in drift["features"].items():
        dims: list[DimensionTypeDef] = [*env, {"Name": "Feature", "Value": name}]
        data.append({"MetricName": "PSI", "Value": float(feature["psi"]), "Unit": "None", "Dimensions": dims})
        if "unseen_share" in feature:
            share = float(feature["unseen_share"])
            data.append({"MetricName": "UnseenCategoryShare", "Value": share, "Unit": "None", "Dimensions": dims})
    return data


def run_metrics(
    environment: str,
    seconds: float,
    rows_in: int,
    rows_out: int,
    rows_rejected: int,
    drift: Mapping[str, Any] | None = None,
) -> list[MetricDatumTypeDef]:
    """ProcessingTime, RowsIn, RowsOut, RowsRejected and the drift metrics of one run (what the stack's alarms and
    the contract test read: the alarms must name exactly these)."""
    dimensions: list[DimensionTypeDef] = [{"Name": "Environment", "Value": environment}]
    return [
        {"MetricName": "ProcessingTime", "Value": seconds, "Unit": "Seconds", "Dimensions": dimensions},
        {"MetricName": "RowsIn", "Value": rows_in, "Unit": "Count", "Dimensions": dimensions},
        {"MetricName": "RowsOut", "Value": rows_out, "Unit": "Count", "Dimensions": dimensions},
        {"MetricName": "RowsRejected", "Value": rows_rejected, "Unit": "Count", "Dimensions": dimensions},
        *drift_metrics(environment, drift or {}),
    ]


def put_run_metrics(data: Sequence[MetricDatumTypeDef]) -> bool:
    """Send a run's metrics (``run_metrics``); return whether CloudWatch took them."""
    try:
        for start in range(0, len(data), BATCH):
            s3.cloudwatch_client().put_metric_data(Namespace=NAMESPACE, MetricData=data[start : start + BATCH])
    except (BotoCoreError, ClientError) as exc:
        log.warning("could not send metrics to CloudWatch %s (the run itself succeeded): %s", NAMESPACE, exc)
        return False
    return True
