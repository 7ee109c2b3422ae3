"""Audit: who did what in the account, who touched the model store, and an alert when its protections change.

Every stack gets:
- a CloudTrail trail (multi-region, global service events, log file validation) into a hardened log bucket
  (SecureBucket: only this trail may write, by ``aws:SourceArn``; deletes denied but to the admins; old logs
  expire) -- unless ``organizationTrail`` says the organization's trail already records the account;
- an IAM Access Analyzer for the account (findings on anything shared outside it);
- the alarm topic's policy, so EventBridge alert rules and CloudWatch alarms may publish to it;
- an EventBridge rule on changes to the model parameters (``model-key``, ``model-sha256``) by anyone but the role
  that promotes (``Settings.promoting_role``): a promotion that bypasses dsctl's gates (a direct
  ``ssm:PutParameter``) reaches the alarm topic. EventBridge only receives these CloudTrail management events
  because a trail logs them: this stack's trail, or with ``organizationTrail: true`` the organization's trail.

The stack that owns the artifact store also gets:
- S3 data events (advanced event selectors) for the store's ``models/`` objects, reads and writes, on its trail
  (with ``organizationTrail`` a trail of ours that records only these data events);
- the trail's events in CloudWatch Logs, a metric filter on requests to the store that AWS denied and an alarm on
  it. A metric filter, not an EventBridge rule on ``errorCode``: EventBridge takes CloudTrail events best effort
  and filters out read-only calls by default (a denied read is ``GetObject``), while the log group receives every
  event the trail records, and a metric lets the alarm count a spike over a period;
- EventBridge rules on changes to the store's bucket (policy, replication, versioning, lifecycle, encryption) and
  to its key (policy, disable, scheduled deletion) that notify the alarm topic.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import pulumi
import pulumi_aws as aws

from components import naming, policy_docs, tokens
from components.arns import StackArns
from components.json_output import document_json
from components.secure_bucket import SecureBucket, SecureBucketArgs

AUDIT_LOG_DAYS = 365
"""How long the trail's log files are kept in the log bucket (a year: the usual audit look-back)."""

STORE_BUCKET_CHANGES = (
    "DeleteBucketPolicy",
    "PutBucketPolicy",
    "DeleteBucketReplication",
    "PutBucketReplication",
    "PutBucketVersioning",
    "DeleteBucketLifecycle",
    "PutBucketLifecycle",
    "DeleteBucketEncryption",
    "PutBucketEncryption",
)
"""CloudTrail event names of the changes that could end the store's guarantees (the API names: S3 logs
``PutBucketLifecycle`` for PutBucketLifecycleConfiguration)."""
MODEL_PARAMETER_CHANGES = ("DeleteParameter", "DeleteParameters", "LabelParameterVersion", "PutParameter")
"""CloudTrail event names of the SSM calls that change (or remove) which model the job loads."""
STORE_KEY_CHANGES = ("DisableKey", "PutKeyPolicy", "ScheduleKeyDeletion")
"""CloudTrail event names of the key changes that make every model unreadable, or the key anyone's."""
ACCESS_DENIED_CODES = ("AccessDenied", "AccessDeniedException")


@dataclass(frozen=True)
class AuditedStore:
    """The artifact store the owning stack audits."""

    bucket_name: str
    key_arn: pulumi.Input[str]


@dataclass(frozen=True)
class AuditArgs:
    environment: str
    account_id: str
    region: str
    alarm_topic_arn: pulumi.Input[str]
    log_retention_days: int
    """Retention of the trail's CloudWatch Logs copy (the S3 copy is kept ``AUDIT_LOG_DAYS``)."""
    own_trail: bool
    """False when the organization's trail already records this account (``organizationTrail``)."""
    store: AuditedStore | None = None
    """The store, on the stack that owns it."""
    admin_principal_arns: Sequence[str] = ()
    model_parameter_names: Sequence[str] = ()
    """Full names of the promoted model's SSM parameters (``naming.PROMOTED_PARAMETER_KEYS`` under the prefix)."""
    promoting_role_arn: str | None = None
    """The role whose changes of the model parameters are promotions; None = nobody's are (every change alerts)."""


# ----------------------------------------------------------------------------- pure documents


def store_data_event_selector(bucket_name: str) -> dict[str, Any]:
    """Advanced event selector: every read and write of an object under the store's ``models/``."""
    return {
        "name": "Model store objects (reads and writes)",
        "fieldSelectors": [
            {"field": "eventCategory", "equals": ["Data"]},
            {"field": "resources.type", "equals": ["AWS::S3::Object"]},
            {
                "field": "resources.ARN",
                "startsWiths": [f"{policy_docs.s3_bucket_arn(bucket_name)}/{naming.MODELS_PREFIX}"],
            },
        ],
    }


MANAGEMENT_EVENT_SELECTOR: dict[str, Any] = {
    "name": "Management events",
    "fieldSelectors": [{"field": "eventCategory", "equals": ["Management"]}],
}


def store_access_denied_pattern(bucket_name: str) -> str:
    """CloudWatch Logs filter pattern: S3 requests naming the store that AWS denied (any caller, any account)."""
    codes = " || ".join(f'($.errorCode = "{code}")' for code in ACCESS_DENIED_CODES)
    return (
        f'{{ ($.eventSource = "s3.amazonaws.com") && ({codes}) && ($.requestParameters.bucketName = "{bucket_name}") }}'
    )


def store_bucket_change_pattern(bucket_name: str) -> dict[str, Any]:
    """EventBridge pattern: a (successful or not) change to the store bucket's protections."""
    return {
        "source": ["aws.s3"],
        "detail-type": ["AWS API Call via CloudTrail"],
        "detail": {
            "eventSource": ["s3.amazonaws.com"],
            "eventName": sorted(STORE_BUCKET_CHANGES),
            "requestParameters": {"bucketName": [bucket_name]},
        },
    }


def store_key_change_pattern(key_arn: str) -> dict[str, Any]:
    """EventBridge pattern: disabling, deleting or re-policying the store's key (CloudTrail names it in resources)."""
    return {
        "source": ["aws.kms"],
        "detail-type": ["AWS API Call via CloudTrail"],
        "detail": {
            "eventSource": ["kms.amazonaws.com"],
            "eventName": sorted(STORE_KEY_CHANGES),
            "resources": {"ARN": [key_arn]},
        },
    }


def model_parameter_change_pattern(parameter_names: Sequence[str], promoting_role_arn: str | None) -> dict[str, Any]:
    """EventBridge pattern: a change of the model parameters by anyone but the promoting role.

    ``DeleteParameters`` names its parameters in ``requestParameters.names`` (the others in ``name``), hence the
    ``$or``. ``anything-but`` on the session issuer matches only events that have one (role sessions); a caller
    that is no role session (an IAM user, the root user) is matched by its ``userIdentity.type`` instead. With no
    promoting role every change is a bypass.
    """
    names = sorted(parameter_names)
    detail: dict[str, Any] = {
        "eventSource": ["ssm.amazonaws.com"],
        "eventName": sorted(MODEL_PARAMETER_CHANGES),
        "requestParameters": {"$or": [{"name": names}, {"names": names}]},
    }
    if promoting_role_arn is not None:
        detail["userIdentity"] = {
            "$or": [
                {"sessionContext": {"sessionIssuer": {"arn": [{"anything-but": [promoting_role_arn]}]}}},
                {"type": [{"anything-but": ["AssumedRole"]}]},
            ]
        }
    return {"source": ["aws.ssm"], "detail-type": ["AWS API Call via CloudTrail"], "detail": detail}


# ----------------------------------------------------------------------------- component


class Audit(pulumi.ComponentResource):
    """Trail, log bucket, access analyzer, alarm topic policy; on the owning stack the store's audit and alerts."""

    analyzer: aws.accessanalyzer.Analyzer
    trail: aws.cloudtrail.Trail | None
    log_bucket: SecureBucket | None
    denied_alarm: aws.cloudwatch.MetricAlarm | None
    alert_rules: list[aws.cloudwatch.EventRule]
    model_parameter_rule: aws.cloudwatch.EventRule

    def __init__(self, name: str, args: AuditArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__(tokens.AUDIT_COMPONENT, name, None, opts)
        self._name = name
        self._arns = StackArns(args.environment, args.account_id, args.region)
        child = pulumi.ResourceOptions(parent=self)
        env = args.environment
        self.analyzer = aws.accessanalyzer.Analyzer(
            f"{name}-analyzer",
            aws.accessanalyzer.AnalyzerArgs(analyzer_name=naming.access_analyzer(env), type="ACCOUNT"),
            opts=child,
        )
        aws.sns.TopicPolicy(
            f"{name}-alarm-topic-policy",
            aws.sns.TopicPolicyArgs(
                arn=args.alarm_topic_arn,
                policy=document_json(policy_docs.alarm_topic_policy, topic_arn=args.alarm_topic_arn, arns=self._arns),
            ),
            opts=child,
        )
        self.trail, self.log_bucket, self.denied_alarm, self.alert_rules = None, None, None, []
        if args.own_trail or args.store is not None:
            self.trail = self._trail(args)
        if args.store is not None:
            self.alert_rules = self._store_alerts(args, args.store)
        self.model_parameter_rule = self._alert(
            "model-parameter-changes",
            naming.model_parameter_rule(env),
            "Changes of the promoted model's parameters outside dsctl (runbook: docs/operations.md, "
            "model parameter changed outside dsctl)",
            pulumi.Output.from_input(
                json.dumps(
                    model_parameter_change_pattern(args.model_parameter_names, args.promoting_role_arn), sort_keys=True
                )
            ),
            args.alarm_topic_arn,
        )
        self.register_outputs(
            {
                "analyzerArn": self.analyzer.arn,
                "trailArn": self.trail.arn if self.trail else None,
                "logBucketName": self.log_bucket.bucket_name if self.log_bucket else None,
            }
        )

    def _trail(self, args: AuditArgs) -> aws.cloudtrail.Trail:
        env, a = args.environment, self._arns
        bucket_name = naming.audit_log_bucket(env, args.account_id, args.region)
        self.log_bucket = SecureBucket(
            f"{self._name}-logs",
            SecureBucketArgs(
                bucket_name=bucket_name,
                policy_statements=policy_docs.audit_log_bucket_statements(
                    policy_docs.s3_bucket_arn(bucket_name),
                    account_id=args.account_id,
                    trail_arn=a.audit_trail,
                    admin_principal_arns=args.admin_principal_arns,
                ),
                expire_prefixes={naming.AUDIT_TRAIL_LOG_PREFIX: AUDIT_LOG_DAYS},
            ),
            opts=pulumi.ResourceOptions(parent=self),
        )
        selectors = [MANAGEMENT_EVENT_SELECTOR] if args.own_trail else []
        group_arn: pulumi.Output[str] | None = None
        role_arn: pulumi.Output[str] | None = None
        ready: list[pulumi.Resource] = [self.log_bucket]
        if args.store is not None:
            selectors.append(store_data_event_selector(args.store.bucket_name))
            log_group, role, role_policy = self._cloudwatch_delivery(args)
            # CloudTrail takes the group's ARN with the log-stream wildcard.
            group_arn, role_arn = log_group.arn.apply(lambda arn: f"{arn}:*"), role.arn
            ready.append(role_policy)
            self._denied_access_alarm(args, args.store, log_group)
        return aws.cloudtrail.Trail(
            f"{self._name}-trail",
            aws.cloudtrail.TrailArgs(
                name=naming.audit_trail(env),
                s3_bucket_name=self.log_bucket.bucket_name,
                is_multi_region_trail=True,
                include_global_service_events=args.own_trail,
                enable_log_file_validation=True,
                enable_logging=True,
                advanced_event_selectors=[_selector_args(s) for s in selectors],
                cloud_watch_logs_group_arn=group_arn,
                cloud_watch_logs_role_arn=role_arn,
            ),
            # CloudTrail checks on creation that it may write to the bucket (and assume the delivery role): those first.
            opts=pulumi.ResourceOptions(parent=self, depends_on=ready),
        )

    def _cloudwatch_delivery(self, args: AuditArgs) -> tuple[aws.cloudwatch.LogGroup, aws.iam.Role, aws.iam.RolePolicy]:
        """The trail's copy in CloudWatch Logs (for the metric filter), with the role CloudTrail delivers as."""
        env, child = args.environment, pulumi.ResourceOptions(parent=self)
        log_group = aws.cloudwatch.LogGroup(
            f"{self._name}-trail-logs",
            aws.cloudwatch.LogGroupArgs(
                name=naming.audit_trail_log_group(env), retention_in_days=args.log_retention_days
            ),
            opts=child,
        )
        role = aws.iam.Role(
            f"{self._name}-trail-role",
            aws.iam.RoleArgs(
                name=naming.audit_trail_role(env),
                description="CloudTrail delivers the audit trail's events to its log group",
                assume_role_policy=json.dumps(
                    policy_docs.service_trust(policy_docs.CLOUDTRAIL, args.account_id), sort_keys=True
                ),
            ),
            opts=child,
        )
        policy = aws.iam.RolePolicy(
            f"{self._name}-trail-role-policy",
            aws.iam.RolePolicyArgs(
                role=role.name,
                name="deliver-trail-events",
                policy=document_json(policy_docs.trail_delivery_policy, log_group_arn=log_group.arn),
            ),
            opts=child,
        )
        return log_group, role, policy

    def _denied_access_alarm(self, args: AuditArgs, store: AuditedStore, log_group: aws.cloudwatch.LogGroup) -> None:
        env, child = args.environment, pulumi.ResourceOptions(parent=self)
        aws.cloudwatch.LogMetricFilter(
            f"{self._name}-store-access-denied",
            aws.cloudwatch.LogMetricFilterArgs(
                name=naming.store_access_denied_alarm(env),
                log_group_name=log_group.name,
                pattern=store_access_denied_pattern(store.bucket_name),
                metric_transformation=aws.cloudwatch.LogMetricFilterMetricTransformationArgs(
                    name=naming.STORE_ACCESS_DENIED_METRIC,
                    namespace=naming.AUDIT_METRIC_NAMESPACE,
                    value="1",
                    default_value="0",
                ),
            ),
            opts=child,
        )
        self.denied_alarm = aws.cloudwatch.MetricAlarm(
            f"{self._name}-store-access-denied-alarm",
            aws.cloudwatch.MetricAlarmArgs(
                name=naming.store_access_denied_alarm(env),
                alarm_description=(
                    "Requests to the model store were denied: a reader's grant is broken, or someone probes the store "
                    "(runbook: docs/operations.md, access denied spike)"
                ),
                namespace=naming.AUDIT_METRIC_NAMESPACE,
                metric_name=naming.STORE_ACCESS_DENIED_METRIC,
                statistic="Sum",
                period=300,
                evaluation_periods=1,
                # The workflow's grants cover every call it makes: a single denial is a finding, not noise.
                threshold=1,
                comparison_operator="GreaterThanOrEqualToThreshold",
                treat_missing_data="notBreaching",
                alarm_actions=[args.alarm_topic_arn],
            ),
            opts=child,
        )

    def _store_alerts(self, args: AuditArgs, store: AuditedStore) -> list[aws.cloudwatch.EventRule]:
        patterns = {
            naming.ALERT_STORE_BUCKET: (
                "Changes to the model store's bucket policy, replication, versioning, lifecycle or encryption",
                pulumi.Output.from_input(json.dumps(store_bucket_change_pattern(store.bucket_name), sort_keys=True)),
            ),
            naming.ALERT_STORE_KEY: (
                "Disabling, scheduling deletion of or re-policying the model store's KMS key",
                document_json(store_key_change_pattern, key_arn=store.key_arn),
            ),
        }
        return [
            self._alert(what, naming.alert_rule(args.environment, what), description, pattern, args.alarm_topic_arn)
            for what, (description, pattern) in patterns.items()
        ]

    def _alert(
        self,
        what: str,
        rule_name: str,
        description: str,
        pattern: pulumi.Input[str],
        topic_arn: pulumi.Input[str],
    ) -> aws.cloudwatch.EventRule:
        """An EventBridge rule that notifies the alarm topic (its name must be one the topic's policy admits)."""
        rule = aws.cloudwatch.EventRule(
            f"{self._name}-{what}",
            aws.cloudwatch.EventRuleArgs(
                name=rule_name, description=description, event_pattern=pattern, state="ENABLED"
            ),
            opts=pulumi.ResourceOptions(parent=self),
        )
        aws.cloudwatch.EventTarget(
            f"{self._name}-{what}-target",
            aws.cloudwatch.EventTargetArgs(rule=rule.name, target_id="alarm-topic", arn=topic_arn),
            opts=pulumi.ResourceOptions(parent=self),
        )
        return rule


def _selector_args(selector: dict[str, Any]) -> aws.cloudtrail.TrailAdvancedEventSelectorArgs:
    return aws.cloudtrail.TrailAdvancedEventSelectorArgs(
        name=selector["name"],
        field_selectors=[
            aws.cloudtrail.TrailAdvancedEventSelectorFieldSelectorArgs(
                field=f["field"], equals=f.get("equals"), starts_withs=f.get("startsWiths")
            )
            for f in selector["fieldSelectors"]
        ],
    )
