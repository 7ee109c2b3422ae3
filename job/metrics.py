"""Run metrics to CloudWatch (namespace DS/Pipeline, dimension Environment).

Metrics are for dashboards and alarms, not for correctness: a failure to send them
is logged as a warning and never fails a run whose data was published.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from botocore.exceptions import BotoCoreError, ClientError

from job import s3

if TYPE_CHECKING:
    from mypy_boto3_cloudwatch.type_defs import DimensionTypeDef, MetricDatumTypeDef

NAMESPACE = "DS/Pipeline"
log = logging.getLogger(__name__)


def put_run_metrics(environment: str, seconds: float, rows_in: int, rows_out: int, rows_rejected: int) -> bool:
    """Send ProcessingTime, RowsIn, RowsOut, RowsRejected; return whether CloudWatch accepted them."""
    dimensions: list[DimensionTypeDef] = [{"Name": "Environment", "Value": environment}]
    data: list[MetricDatumTypeDef] = [
        {"MetricName": "ProcessingTime", "Value": seconds, "Unit": "Seconds", "Dimensions": dimensions},
        {"MetricName": "RowsIn", "Value": rows_in, "Unit": "Count", "Dimensions": dimensions},
        {"MetricName": "RowsOut", "Value": rows_out, "Unit": "Count", "Dimensions": dimensions},
        {"MetricName": "RowsRejected", "Value": rows_rejected, "Unit": "Count", "Dimensions": dimensions},
    ]
    try:
        s3.cloudwatch_client().put_metric_data(Namespace=NAMESPACE, MetricData=data)
    except (BotoCoreError, ClientError) as exc:
        log.warning("could not send metrics to CloudWatch %s (the run itself succeeded): %s", NAMESPACE, exc)
        return False
    return True
