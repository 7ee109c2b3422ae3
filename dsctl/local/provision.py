"""Create on the local server what ``dsctl synth`` says each stack creates.

The local environment is built from the synthesized program, never from a second
description of it: bucket names, SSM parameter names and their initial values, the
task definition's container environment and command, the state machine all come
from ``synth(stack).to_dict()``, so local cannot drift from what ``pulumi up`` deploys.
Each stack's resources are created in that stack's own account (through the session
the caller passes, e.g. a reading stack's assumed-role session).

Only what the data path and the operator commands need locally is created; other
resource types (IAM, ECR, alarms, schedules, ...) are reported as skipped: their
policies are verified offline by the policy checks, which moto cannot do anyway.
Bucket policies are skipped on purpose: moto 5 treats a statement whose Condition
does not match as a Deny, so the stores' TLS-only statement would refuse every
request to the local http endpoint (and the reader grants would deny, not allow).
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import boto3
from botocore.exceptions import BotoCoreError, ClientError
from botocore.model import ListShape, Shape, StructureShape

from components.tokens import (
    BUCKET,
    BUCKET_OWNERSHIP,
    BUCKET_PUBLIC_ACCESS_BLOCK,
    BUCKET_VERSIONING,
    CLUSTER,
    ECR_REPOSITORY,
    EVENT_RULE,
    EVENT_TARGET,
    KMS_ALIAS,
    KMS_KEY,
    LOG_GROUP,
    METRIC_ALARM,
    PARAMETER,
    STATE_MACHINE,
    TASK_DEFINITION,
    TOPIC,
)
from components.tokens import BUCKET_SSE as BUCKET_ENCRYPTION
from dsctl.output import EXIT_FAILED, CommandError


@dataclass
class StackContext:
    """One stack being provisioned: its clients and the ids the server gave to what synth named."""

    stack: str
    session: boto3.Session
    endpoint: str
    ids: dict[str, str] = field(default_factory=dict)
    """Synthesized id/ARN -> the id/ARN the local server assigned (KMS keys get new random ids)."""
    _clients: dict[str, Any] = field(default_factory=dict)

    def client(self, service: str) -> Any:
        """A cached client of ``service`` in this stack's account, on the local endpoint."""
        if service not in self._clients:
            self._clients[service] = self.session.client(service, endpoint_url=self.endpoint)  # type: ignore[call-overload]
        return self._clients[service]

    def local_id(self, synthesized: str) -> str:
        """The local id for a synthesized id or ARN (unchanged when the server kept it)."""
        return self.ids.get(synthesized, synthesized)


@dataclass
class ProvisionReport:
    """What was created per stack, and which resource types were left out."""

    created: list[dict[str, str]] = field(default_factory=list)
    skipped: Counter[str] = field(default_factory=Counter)

    def add(self, stack: str, type_: str, name: str) -> None:
        self.created.append({"stack": stack, "type": type_, "name": name})

    def summary(self, stack: str) -> str:
        """One short line per stack: the total, and the kinds the job and dsctl rely on."""
        kinds = Counter(item["type"] for item in self.created if item["stack"] == stack)
        key = (BUCKET, PARAMETER, TASK_DEFINITION, STATE_MACHINE)
        shown = ", ".join(f"{kinds[token]} {token.split(':')[-1]}" for token in key if kinds[token])
        others = sum(count for token, count in kinds.items() if token not in key)
        return f"{sum(kinds.values())} resources ({shown}, {others} more)"

    def to_dict(self) -> dict[str, Any]:
        """JSON form for ``dsctl local up --json``."""
        return {"created": self.created, "skipped": dict(sorted(self.skipped.items()))}


def fit_to_shape(value: Any, shape: Shape) -> Any:
    """Drop keys the API's input shape does not know, recursively.

    Synthesized inputs are in the provider's wire form, which can carry extra keys the
    service API rejects (boto3 validates strictly); the API model is the authority.
    """
    if isinstance(shape, StructureShape) and isinstance(value, dict):
        return {k: fit_to_shape(v, shape.members[k]) for k, v in value.items() if k in shape.members and v is not None}
    if isinstance(shape, ListShape) and isinstance(value, list):
        return [fit_to_shape(item, shape.member) for item in value]
    if shape.type_name == "string" and isinstance(value, int | float) and not isinstance(value, bool):
        return str(value)
    return value


def _api_input(ctx: StackContext, service: str, operation: str, values: Mapping[str, Any]) -> dict[str, Any]:
    shape = ctx.client(service).meta.service_model.operation_model(operation).input_shape
    return dict(fit_to_shape(dict(values), shape))


# --------------------------------------------------------------------------- handlers, one per type


def _kms_key(ctx: StackContext, resource: dict[str, Any]) -> str:
    inputs = resource["inputs"]
    kms = ctx.client("kms")
    key = kms.create_key(Description=inputs.get("description", resource["name"]))["KeyMetadata"]
    if inputs.get("enableKeyRotation"):
        kms.enable_key_rotation(KeyId=key["KeyId"])
    if resource.get("id"):
        ctx.ids[resource["id"]] = key["KeyId"]
        account, region = key["Arn"].split(":")[4], key["Arn"].split(":")[3]
        ctx.ids[f"arn:aws:kms:{region}:{account}:key/{resource['id']}"] = key["Arn"]
    return str(key["Arn"])


def _kms_alias(ctx: StackContext, resource: dict[str, Any]) -> str:
    inputs = resource["inputs"]
    ctx.client("kms").create_alias(AliasName=inputs["name"], TargetKeyId=ctx.local_id(inputs["targetKeyId"]))
    return str(inputs["name"])


def _bucket(ctx: StackContext, resource: dict[str, Any]) -> str:
    name = resource["inputs"].get("bucket") or resource["id"]
    ctx.client("s3").create_bucket(Bucket=name)
    return str(name)


def _bucket_versioning(ctx: StackContext, resource: dict[str, Any]) -> str:
    inputs = resource["inputs"]
    status = (inputs.get("versioningConfiguration") or {}).get("status", "Enabled")
    ctx.client("s3").put_bucket_versioning(Bucket=inputs["bucket"], VersioningConfiguration={"Status": status})
    return f"{inputs['bucket']} versioning {status}"


def _bucket_encryption(ctx: StackContext, resource: dict[str, Any]) -> str:
    inputs = resource["inputs"]
    rules: list[dict[str, Any]] = []
    for rule in inputs.get("rules", []):
        default = rule.get("applyServerSideEncryptionByDefault") or {}
        by_default = {"SSEAlgorithm": default.get("sseAlgorithm", "AES256")}
        if default.get("kmsMasterKeyId"):
            by_default["KMSMasterKeyID"] = ctx.local_id(default["kmsMasterKeyId"])
        rules.append(
            {"ApplyServerSideEncryptionByDefault": by_default, "BucketKeyEnabled": bool(rule.get("bucketKeyEnabled"))}
        )
    ctx.client("s3").put_bucket_encryption(Bucket=inputs["bucket"], ServerSideEncryptionConfiguration={"Rules": rules})
    algorithms = ",".join(rule["ApplyServerSideEncryptionByDefault"]["SSEAlgorithm"] for rule in rules)
    return f"{inputs['bucket']} encryption {algorithms}"


def _bucket_public_access_block(ctx: StackContext, resource: dict[str, Any]) -> str:
    inputs = resource["inputs"]
    keys = ("blockPublicAcls", "blockPublicPolicy", "ignorePublicAcls", "restrictPublicBuckets")
    config = {key[0].upper() + key[1:]: bool(inputs.get(key)) for key in keys}
    ctx.client("s3").put_public_access_block(Bucket=inputs["bucket"], PublicAccessBlockConfiguration=config)
    return f"{inputs['bucket']} public access block"


def _bucket_ownership(ctx: StackContext, resource: dict[str, Any]) -> str:
    inputs = resource["inputs"]
    ownership = (inputs.get("rule") or {}).get("objectOwnership", "BucketOwnerEnforced")
    ctx.client("s3").put_bucket_ownership_controls(
        Bucket=inputs["bucket"], OwnershipControls={"Rules": [{"ObjectOwnership": ownership}]}
    )
    return f"{inputs['bucket']} ownership {ownership}"


def _parameter(ctx: StackContext, resource: dict[str, Any]) -> str:
    inputs = resource["inputs"]
    ctx.client("ssm").put_parameter(
        Name=inputs["name"],
        Value=str(inputs["value"]),
        Type=inputs.get("type", "String"),
        Description=inputs.get("description", ""),
        Overwrite=True,
    )
    return f"{inputs['name']} = {inputs['value']}"


def _log_group(ctx: StackContext, resource: dict[str, Any]) -> str:
    inputs = resource["inputs"]
    logs = ctx.client("logs")
    logs.create_log_group(logGroupName=inputs["name"])
    if inputs.get("retentionInDays"):
        logs.put_retention_policy(logGroupName=inputs["name"], retentionInDays=int(inputs["retentionInDays"]))
    return str(inputs["name"])


def _cluster(ctx: StackContext, resource: dict[str, Any]) -> str:
    name = resource["inputs"].get("name") or resource["name"]
    ctx.client("ecs").create_cluster(clusterName=name)
    return str(name)


def _task_definition(ctx: StackContext, resource: dict[str, Any]) -> str:
    request = _api_input(ctx, "ecs", "RegisterTaskDefinition", resource["inputs"])
    registered = ctx.client("ecs").register_task_definition(**request)["taskDefinition"]
    return f"{registered['family']}:{registered['revision']}"


def _state_machine(ctx: StackContext, resource: dict[str, Any]) -> str:
    inputs = resource["inputs"]
    definition = inputs["definition"]
    ctx.client("stepfunctions").create_state_machine(
        name=inputs.get("name") or resource["name"],
        definition=definition if isinstance(definition, str) else json.dumps(definition),
        roleArn=inputs["roleArn"],
        type=inputs.get("type", "STANDARD"),
    )
    return str(inputs.get("name") or resource["name"])


def _topic(ctx: StackContext, resource: dict[str, Any]) -> str:
    name = resource["inputs"].get("name") or resource["name"]
    return str(ctx.client("sns").create_topic(Name=name)["TopicArn"])


def _metric_query(query: Mapping[str, Any]) -> dict[str, Any]:
    """One ``metricQueries`` entry (provider wire form) as a PutMetricAlarm ``Metrics`` entry."""
    result: dict[str, Any] = {"Id": query["id"], "ReturnData": bool(query.get("returnData", False))}
    if query.get("expression"):
        result["Expression"] = query["expression"]
    if query.get("label"):
        result["Label"] = query["label"]
    metric = query.get("metric")
    if metric:
        dimensions = [{"Name": k, "Value": str(v)} for k, v in (metric.get("dimensions") or {}).items()]
        result["MetricStat"] = {
            "Metric": {"Namespace": metric["namespace"], "MetricName": metric["metricName"], "Dimensions": dimensions},
            "Period": int(metric["period"]),
            "Stat": metric["stat"],
        }
    return result


def _metric_alarm(ctx: StackContext, resource: dict[str, Any]) -> str:
    inputs = resource["inputs"]
    request: dict[str, Any] = {
        "AlarmName": inputs.get("name") or resource["name"],
        "AlarmDescription": inputs.get("alarmDescription", ""),
        "EvaluationPeriods": int(inputs["evaluationPeriods"]),
        "Threshold": float(inputs["threshold"]),
        "ComparisonOperator": inputs.get("comparisonOperator", "GreaterThanOrEqualToThreshold"),
        "AlarmActions": list(inputs.get("alarmActions", [])),
        "TreatMissingData": inputs.get("treatMissingData", "missing"),
    }
    if inputs.get("metricQueries"):
        request["Metrics"] = [_metric_query(query) for query in inputs["metricQueries"]]
    else:
        dimensions = [{"Name": k, "Value": str(v)} for k, v in (inputs.get("dimensions") or {}).items()]
        request.update(
            Namespace=inputs["namespace"],
            MetricName=inputs["metricName"],
            Dimensions=dimensions,
            Period=int(inputs["period"]),
            Statistic=inputs.get("statistic", "Sum"),
        )
    ctx.client("cloudwatch").put_metric_alarm(**request)
    return str(request["AlarmName"])


def _ecr_repository(ctx: StackContext, resource: dict[str, Any]) -> str:
    inputs = resource["inputs"]
    name = inputs.get("name") or resource["name"]
    ctx.client("ecr").create_repository(
        repositoryName=name,
        imageTagMutability=inputs.get("imageTagMutability", "MUTABLE"),
        imageScanningConfiguration={
            "scanOnPush": bool((inputs.get("imageScanningConfiguration") or {}).get("scanOnPush"))
        },
    )
    return str(name)


def _event_rule(ctx: StackContext, resource: dict[str, Any]) -> str:
    inputs = resource["inputs"]
    request = {
        "Name": inputs.get("name") or resource["name"],
        "ScheduleExpression": inputs.get("scheduleExpression"),
        # The audit's alert rules match CloudTrail events (synth hands the pattern over parsed).
        "EventPattern": json.dumps(pattern) if isinstance(pattern := inputs.get("eventPattern"), dict) else pattern,
        "State": inputs.get("state", "ENABLED"),
        "Description": inputs.get("description"),
    }
    ctx.client("events").put_rule(**{k: v for k, v in request.items() if v})
    trigger = request["ScheduleExpression"] or "event pattern"
    return f"{request['Name']} ({trigger}, {request['State']}; moto never fires it)"


def _event_target(ctx: StackContext, resource: dict[str, Any]) -> str:
    inputs = resource["inputs"]
    target = {"Id": inputs.get("targetId") or resource["name"], "Arn": inputs["arn"]}
    if inputs.get("roleArn"):
        target["RoleArn"] = inputs["roleArn"]
    if inputs.get("input") is not None:
        target["Input"] = inputs["input"] if isinstance(inputs["input"], str) else json.dumps(inputs["input"])
    ctx.client("events").put_targets(Rule=inputs["rule"], Targets=[target])
    return f"{inputs['rule']} -> {inputs['arn']}"


Handler = Callable[[StackContext, dict[str, Any]], str]
HANDLERS: dict[str, Handler] = {
    # In dependency order: keys before the buckets encrypted with them, buckets before their settings.
    KMS_KEY: _kms_key,
    KMS_ALIAS: _kms_alias,
    BUCKET: _bucket,
    BUCKET_OWNERSHIP: _bucket_ownership,
    BUCKET_PUBLIC_ACCESS_BLOCK: _bucket_public_access_block,
    BUCKET_VERSIONING: _bucket_versioning,
    BUCKET_ENCRYPTION: _bucket_encryption,
    PARAMETER: _parameter,
    LOG_GROUP: _log_group,
    CLUSTER: _cluster,
    ECR_REPOSITORY: _ecr_repository,
    TASK_DEFINITION: _task_definition,
    TOPIC: _topic,
    STATE_MACHINE: _state_machine,
    METRIC_ALARM: _metric_alarm,
    EVENT_RULE: _event_rule,
    EVENT_TARGET: _event_target,
}
_ORDER = {token: index for index, token in enumerate(HANDLERS)}


def provision_stack(
    synthesized: Mapping[str, Any],
    session: boto3.Session,
    endpoint: str,
    report: ProvisionReport,
    progress: Callable[[str], None] | None = None,
) -> None:
    """Create the resources of one synthesized stack (``SynthResult.to_dict()``) with ``session``."""
    ctx = StackContext(stack=str(synthesized["stack"]), session=session, endpoint=endpoint)
    resources: Iterable[dict[str, Any]] = synthesized["resources"]
    wanted = []
    for resource in resources:
        if resource["type"] in HANDLERS and not resource.get("options", {}).get("read"):
            wanted.append(resource)
        elif resource["type"].startswith("aws:"):
            report.skipped[resource["type"]] += 1
    for resource in sorted(wanted, key=lambda r: _ORDER[r["type"]]):
        try:
            description = HANDLERS[resource["type"]](ctx, resource)
        except (ClientError, BotoCoreError, KeyError) as err:
            raise CommandError(
                f"could not create {resource['type']} {resource['name']!r} of stack {ctx.stack} locally ({err!r}); "
                "check the synthesized inputs with `dsctl synth --stack "
                f"{ctx.stack} --json`, or report it if moto lacks the call",
                EXIT_FAILED,
            ) from err
        report.add(ctx.stack, resource["type"], description)
        if progress:
            progress(f"{ctx.stack}: {resource['type'].split(':')[-1]} {description}")
