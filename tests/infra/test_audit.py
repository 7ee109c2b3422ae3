"""The audit controls as synthesized: trail, log bucket, store data events, denied-access alarm, alerts, analyzer.

None of this can run on moto (it records no CloudTrail events, evaluates no bucket policy or EventBridge pattern
against real calls, and has no Access Analyzer findings); these tests prove what the program asks AWS for, and
``dsctl check``'s rules (tests/policy/test_rules.py) prove the same against broken fixtures.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from moto.events.models import EventPattern

from components import naming
from components.audit import (
    MODEL_PARAMETER_CHANGES,
    STORE_BUCKET_CHANGES,
    STORE_KEY_CHANGES,
    model_parameter_change_pattern,
)
from components.tokens import (
    ACCESS_ANALYZER,
    BUCKET_LIFECYCLE,
    BUCKET_POLICY,
    EVENT_RULE,
    EVENT_TARGET,
    LOG_METRIC_FILTER,
    METRIC_ALARM,
    TOPIC_POLICY,
    TRAIL,
)
from dsctl.synth import SynthResult, synth

DEV, PROD = "123456789012", "987654321098"
STORE = f"ds-artifacts-dev-{DEV}-us-east-1"


def _one(stack: SynthResult, token: str) -> dict[str, Any]:
    (resource,) = stack.of_type(token)
    return resource.inputs


def _for_bucket(stack: SynthResult, token: str, bucket: str) -> dict[str, Any]:
    (match,) = [r.inputs for r in stack.of_type(token) if r.inputs["bucket"] == bucket]
    return match


def test_every_account_has_a_validated_multi_region_trail_into_its_log_bucket(any_stack: SynthResult) -> None:
    env, account = any_stack.settings.environment, any_stack.settings.account_id
    trail = _one(any_stack, TRAIL)
    logs = f"ds-audit-{env}-{account}-us-east-1"
    assert trail["name"] == f"ds-preprocessing-audit-{env}" and trail["s3BucketName"] == logs
    assert trail["isMultiRegionTrail"] and trail["enableLogFileValidation"] and trail["enableLogging"]
    assert trail["includeGlobalServiceEvents"]
    assert {"field": "eventCategory", "equals": ["Management"]} in trail["advancedEventSelectors"][0]["fieldSelectors"]
    # Only this trail may write (confused deputy: aws:SourceArn); nobody but the admins may delete a log file.
    policy = _for_bucket(any_stack, BUCKET_POLICY, logs)["policy"]
    by_sid = {s["Sid"]: s for s in policy["Statement"]}
    trail_arn = f"arn:aws:cloudtrail:us-east-1:{account}:trail/ds-preprocessing-audit-{env}"
    write = by_sid["CloudTrailWritesLogs"]
    assert write["Principal"] == {"Service": "cloudtrail.amazonaws.com"}
    assert write["Resource"] == [f"arn:aws:s3:::{logs}/AWSLogs/{account}/*"]
    assert write["Condition"]["StringEquals"]["aws:SourceArn"] == trail_arn
    assert by_sid["CloudTrailChecksBucketAcl"]["Condition"] == {"StringEquals": {"aws:SourceArn": trail_arn}}
    deny = by_sid["DenyAuditLogDeletes"]
    assert deny["Effect"] == "Deny" and deny["Principal"] == "*"
    assert deny.get("Condition", {}).get("ArnNotLike", {}).get("aws:PrincipalArn", []) == list(
        any_stack.settings.admin_principal_arns
    )
    rules = {r["id"]: r for r in _for_bucket(any_stack, BUCKET_LIFECYCLE, logs)["rules"]}
    assert rules["expire-AWSLogs"]["expiration"] == {"days": 365}
    assert rules["expire-AWSLogs"]["filter"] == {"prefix": "AWSLogs/"}


def test_every_account_has_an_access_analyzer(any_stack: SynthResult) -> None:
    analyzer = _one(any_stack, ACCESS_ANALYZER)
    assert analyzer == {**analyzer, "type": "ACCOUNT"}
    assert analyzer["analyzerName"] == f"ds-preprocessing-access-{any_stack.settings.environment}"


def test_only_the_store_owner_records_the_store_and_alerts_on_it(
    dev_stack: SynthResult, prod_stack: SynthResult
) -> None:
    (_, data) = _one(dev_stack, TRAIL)["advancedEventSelectors"]
    assert data["fieldSelectors"] == [
        {"field": "eventCategory", "equals": ["Data"]},
        {"field": "resources.type", "equals": ["AWS::S3::Object"]},
        {"field": "resources.ARN", "startsWiths": [f"arn:aws:s3:::{STORE}/models/"]},
    ]
    assert len(_one(prod_stack, TRAIL)["advancedEventSelectors"]) == 1
    assert dev_stack.of_type(LOG_METRIC_FILTER) and _rule_patterns_to_topic(dev_stack)
    # The store's alerts only; every stack alerts on its own model parameters.
    assert list(_rule_patterns_to_topic(prod_stack)) == [naming.model_parameter_rule("prod")]
    assert not prod_stack.of_type(LOG_METRIC_FILTER)
    assert "cloudWatchLogsGroupArn" not in _one(prod_stack, TRAIL)


def test_denied_access_to_the_store_alarms_the_topic(dev_stack: SynthResult) -> None:
    trail = _one(dev_stack, TRAIL)
    log_group = naming.audit_trail_log_group("dev")
    assert trail["cloudWatchLogsGroupArn"] == f"arn:aws:logs:us-east-1:{DEV}:log-group:{log_group}:*"
    assert trail["cloudWatchLogsRoleArn"] == f"arn:aws:iam::{DEV}:role/ds-preprocessing-audit-trail-dev"
    metric_filter = _one(dev_stack, LOG_METRIC_FILTER)
    assert metric_filter["logGroupName"] == log_group
    assert f'$.requestParameters.bucketName = "{STORE}"' in metric_filter["pattern"]
    assert '$.errorCode = "AccessDenied"' in metric_filter["pattern"]
    transformation = metric_filter["metricTransformation"]
    # Its own namespace: the job's role may put metrics only into DS/Pipeline, so it cannot feed this alarm.
    assert (transformation["namespace"], transformation["name"]) == ("DS/Audit", "StoreAccessDenied")
    (alarm,) = [a.inputs for a in dev_stack.of_type(METRIC_ALARM) if a.inputs.get("namespace") == "DS/Audit"]
    assert alarm["metricName"] == "StoreAccessDenied" and alarm["threshold"] == 1
    assert alarm["alarmActions"] == [dev_stack.outputs["alarmTopicArn"]]


def _rule_patterns_to_topic(stack: SynthResult) -> dict[str, dict[str, Any]]:
    topic = stack.outputs["alarmTopicArn"]
    targeted = {t.inputs["rule"] for t in stack.of_type(EVENT_TARGET) if t.inputs["arn"] == topic}
    return {
        r.inputs["name"]: r.inputs["eventPattern"] for r in stack.of_type(EVENT_RULE) if r.inputs["name"] in targeted
    }


def test_changes_to_the_store_bucket_and_key_notify_the_topic(dev_stack: SynthResult) -> None:
    patterns = _rule_patterns_to_topic(dev_stack)
    bucket = patterns["ds-preprocessing-alert-store-bucket-dev"]["detail"]
    assert bucket["requestParameters"] == {"bucketName": [STORE]}
    assert {"PutBucketPolicy", "DeleteBucketPolicy", "PutBucketReplication"} <= set(bucket["eventName"])
    assert set(bucket["eventName"]) == set(STORE_BUCKET_CHANGES)
    key = patterns["ds-preprocessing-alert-store-key-dev"]["detail"]
    assert set(key["eventName"]) == set(STORE_KEY_CHANGES) == {"PutKeyPolicy", "DisableKey", "ScheduleKeyDeletion"}
    assert key["resources"] == {"ARN": [dev_stack.outputs["artifactKmsKeyArn"]]}


def test_the_topic_policy_lets_exactly_the_alert_rules_and_alarms_publish(any_stack: SynthResult) -> None:
    policy = _one(any_stack, TOPIC_POLICY)
    topic = any_stack.outputs["alarmTopicArn"]
    assert policy["arn"] == topic
    by_sid = {s["Sid"]: s for s in policy["policy"]["Statement"]}
    events = by_sid["AlertRulesPublish"]
    assert events["Principal"] == {"Service": "events.amazonaws.com"} and events["Resource"] == [topic]
    allowed = events["Condition"]["ArnEquals"]["aws:SourceArn"]
    rules = [
        f"arn:aws:events:us-east-1:{any_stack.settings.account_id}:rule/{n}" for n in _rule_patterns_to_topic(any_stack)
    ]
    assert set(rules) <= set(allowed) and len(allowed) == len(naming.ALERTS) + 1
    parameter_rule = naming.model_parameter_rule(any_stack.settings.environment)
    assert f"arn:aws:events:us-east-1:{any_stack.settings.account_id}:rule/{parameter_rule}" in allowed
    schedule = f"arn:aws:events:us-east-1:{any_stack.settings.account_id}:rule/{naming.schedule_rule('prod')}"
    assert schedule not in allowed
    alarms = by_sid["AlarmsPublish"]
    assert alarms["Condition"]["StringEquals"] == {"aws:SourceAccount": any_stack.settings.account_id}


def test_model_parameter_changes_by_anyone_but_the_promoting_role_notify_the_topic(any_stack: SynthResult) -> None:
    """A promotion that bypasses dsctl's gates (a direct ssm:PutParameter) reaches the alarm topic: in production
    anyone's but the promoter role's, elsewhere anyone's but the operator role's."""
    settings = any_stack.settings
    pattern = _rule_patterns_to_topic(any_stack)[naming.model_parameter_rule(settings.environment)]
    assert pattern["source"] == ["aws.ssm"] and pattern["detail-type"] == ["AWS API Call via CloudTrail"]
    detail = pattern["detail"]
    assert set(detail["eventName"]) == set(MODEL_PARAMETER_CHANGES)
    assert set(MODEL_PARAMETER_CHANGES) == {
        "PutParameter",
        "DeleteParameter",
        "DeleteParameters",
        "LabelParameterVersion",
    }
    names = ["/ds/preprocessing/model-key", "/ds/preprocessing/model-sha256"]
    # DeleteParameters names its parameters in `names`, the other calls in `name`.
    assert detail["requestParameters"] == {"$or": [{"name": names}, {"names": names}]}
    promoting = "ds-preprocessing-promoter" if settings.production else "ds-preprocessing-operator"
    assert settings.promoting_role == promoting
    by_role, not_a_role = detail["userIdentity"]["$or"]
    promoter_arn = f"arn:aws:iam::{settings.account_id}:role/{promoting}"
    assert by_role == {"sessionContext": {"sessionIssuer": {"arn": [{"anything-but": [promoter_arn]}]}}}
    assert not_a_role == {"type": [{"anything-but": ["AssumedRole"]}]}


def _ssm_call(event: str, request: dict[str, Any], identity: dict[str, Any]) -> dict[str, Any]:
    """The CloudTrail event EventBridge receives for an SSM call (the fields the pattern looks at)."""
    return {
        "source": "aws.ssm",
        "detail-type": "AWS API Call via CloudTrail",
        "detail": {
            "eventSource": "ssm.amazonaws.com",
            "eventName": event,
            "requestParameters": request,
            "userIdentity": identity,
        },
    }


def _role_session(role_arn: str) -> dict[str, Any]:
    return {"type": "AssumedRole", "sessionContext": {"sessionIssuer": {"type": "Role", "arn": role_arn}}}


def test_the_model_parameter_pattern_matches_bypasses_not_promotions() -> None:
    """The pattern against CloudTrail-shaped events, matched by moto's EventBridge pattern engine."""

    promoter, operator = f"arn:aws:iam::{PROD}:role/ds-preprocessing-promoter", f"arn:aws:iam::{PROD}:role/x"
    key, other = "/ds/preprocessing/model-key", "/ds/preprocessing/input-key"
    pattern = EventPattern.load(
        json.dumps(model_parameter_change_pattern([key, "/ds/preprocessing/model-sha256"], promoter))
    )
    put = {"name": key, "type": "String", "overwrite": True}
    assert pattern.matches_event(_ssm_call("PutParameter", put, _role_session(operator)))
    assert pattern.matches_event(
        _ssm_call("PutParameter", put, {"type": "IAMUser", "arn": f"arn:aws:iam::{PROD}:user/u"})
    )
    assert pattern.matches_event(_ssm_call("DeleteParameters", {"names": [other, key]}, _role_session(operator)))
    assert not pattern.matches_event(_ssm_call("PutParameter", put, _role_session(promoter)))
    assert not pattern.matches_event(_ssm_call("PutParameter", {"name": other}, _role_session(operator)))
    assert not pattern.matches_event(_ssm_call("GetParameter", {"name": key}, _role_session(operator)))


def test_without_a_promoting_role_every_model_parameter_change_alerts() -> None:
    pattern = model_parameter_change_pattern(["/p/model-key"], None)
    assert "userIdentity" not in pattern["detail"]
    assert pattern["detail"]["requestParameters"] == {"$or": [{"name": ["/p/model-key"]}, {"names": ["/p/model-key"]}]}


@pytest.fixture(scope="module")
def organization_dev(tmp_path_factory: pytest.TempPathFactory) -> SynthResult:
    """Dev as if the organization's trail recorded the account (``organizationTrail: true``)."""
    config = Path(__file__).resolve().parents[2] / "Pulumi.dev.yaml"
    path = tmp_path_factory.mktemp("org") / "Pulumi.dev.yaml"
    path.write_text(config.read_text() + "  ds-preprocessing:organizationTrail: true\n")
    return synth("dev", config_file=path)


def test_with_an_organization_trail_the_owner_keeps_only_the_store_data_events(organization_dev: SynthResult) -> None:
    trail = _one(organization_dev, TRAIL)
    (selector,) = trail["advancedEventSelectors"]
    assert selector["fieldSelectors"][0] == {"field": "eventCategory", "equals": ["Data"]}
    # No management or global events twice (the organization's trail has them); still validated and delivered.
    assert trail["includeGlobalServiceEvents"] is False and trail["enableLogFileValidation"] is True
    assert organization_dev.of_type(LOG_METRIC_FILTER) and organization_dev.of_type(ACCESS_ANALYZER)
