"""Orchestration: what starts the job, watches it and tells someone -- and the parameters it reads.

The Step Functions state machine (runTask.sync, retries, catch to an SNS notification,
timeout, logging) with its role and log group; the optional EventBridge schedule; the SNS
topic (and e-mail subscription) that failures and alarms go to; alarms on unsuccessful
executions, on a high share of rejected rows and on a run whose input drifted from the
model's training data; and the SSM parameters the job reads,
whose model entries ``dsctl model promote`` owns after creation.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

from components import naming, pipeline_definition, policy_docs, tokens
from components.job_task import TaskLaunch
from components.json_output import document_json
from components.service_role import ServiceRoleArgs, service_role


@dataclass(frozen=True)
class OrchestrationArgs:
    environment: str
    account_id: str
    region: str
    parameter_prefix: str
    log_retention_days: int
    task_timeout_minutes: int
    schedule_expression: str | None
    """EventBridge expression that starts a run; None = runs start only on demand (``dsctl run``)."""
    alarm_email: str | None
    """Subscribed to the alarm topic when set (AWS sends a confirmation mail first)."""
    task: TaskLaunch
    """The task each execution runs (``JobTask.launch``)."""
    role_boundary_arn: pulumi.Input[str]
    """The workload boundary (``JobTask.role_boundary``) every role here is held under."""
    input_bucket_name: pulumi.Input[str]
    output_bucket_name: pulumi.Input[str]
    artifact_bucket_name: pulumi.Input[str]
    input_key: str
    """The default input object, until ``dsctl run --input-key`` or a parameter update says otherwise."""
    max_parallel_tasks: int = 10
    """A prefix runs as at most this many batches, all at once (the Distributed Map's MaxConcurrency)."""


class Orchestration(pulumi.ComponentResource):
    """State machine, schedule, alarm topic and alarms, and the job's SSM parameters."""

    topic: aws.sns.Topic
    state_machine_log_group: aws.cloudwatch.LogGroup
    state_machine_role: aws.iam.Role
    state_machine: aws.sfn.StateMachine
    schedule_rule: aws.cloudwatch.EventRule | None
    failed_alarm: aws.cloudwatch.MetricAlarm
    rejected_alarm: aws.cloudwatch.MetricAlarm
    drift_alarm: aws.cloudwatch.MetricAlarm
    parameters: dict[str, aws.ssm.Parameter]

    def __init__(self, name: str, args: OrchestrationArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__(tokens.ORCHESTRATION_COMPONENT, name, None, opts)
        self._name = name
        child = pulumi.ResourceOptions(parent=self)
        self.topic = aws.sns.Topic(
            f"{name}-alarms", aws.sns.TopicArgs(name=naming.alarm_topic(args.environment)), opts=child
        )
        if args.alarm_email:
            aws.sns.TopicSubscription(
                f"{name}-alarm-email",
                aws.sns.TopicSubscriptionArgs(topic=self.topic.arn, protocol="email", endpoint=args.alarm_email),
                opts=child,
            )
        self.state_machine_log_group = aws.cloudwatch.LogGroup(
            f"{name}-state-machine-logs",
            aws.cloudwatch.LogGroupArgs(
                name=naming.state_machine_log_group(args.environment), retention_in_days=args.log_retention_days
            ),
            opts=child,
        )
        self.state_machine = self._state_machine(args)
        self.schedule_rule = (
            self._schedule(args, args.schedule_expression) if args.schedule_expression is not None else None
        )
        self.failed_alarm, self.rejected_alarm = self._alarms(args.environment)
        self.drift_alarm = self._drift_alarm(args.environment)
        self.parameters = self._parameters(args)
        self.register_outputs({"stateMachineArn": self.state_machine.arn, "alarmTopicArn": self.topic.arn})

    def _state_machine(self, args: OrchestrationArgs) -> aws.sfn.StateMachine:
        task = args.task
        role = service_role(
            f"{self._name}-state-machine",
            ServiceRoleArgs(
                role_name=naming.state_machine_role(args.environment),
                service="states.amazonaws.com",
                account_id=args.account_id,
                description="Step Functions runs the job task and reports failures",
                boundary_arn=args.role_boundary_arn,
                policy_name="run-job-task",
                policy=document_json(
                    policy_docs.state_machine_policy,
                    region=args.region,
                    account_id=args.account_id,
                    cluster_arn=task.cluster_arn,
                    task_role_arn=task.task_role_arn,
                    execution_role_arn=task.execution_role_arn,
                    topic_arn=self.topic.arn,
                    output_bucket=args.output_bucket_name,
                ),
            ),
            parent=self,
        )
        self.state_machine_role = role.role
        definition = document_json(
            pipeline_definition.state_machine_definition,
            cluster_arn=task.cluster_arn,
            task_definition_arn=task.task_definition_arn,
            subnet_ids=task.subnet_ids,
            security_group_id=task.security_group_id,
            assign_public_ip=task.assign_public_ip,
            topic_arn=self.topic.arn,
            environment=args.environment,
            timeout_seconds=args.task_timeout_minutes * 60,
            output_bucket=args.output_bucket_name,
            max_parallel_tasks=args.max_parallel_tasks,
        )
        return aws.sfn.StateMachine(
            f"{self._name}-state-machine",
            aws.sfn.StateMachineArgs(
                name=naming.STATE_MACHINE,
                type="STANDARD",
                role_arn=role.role.arn,
                definition=definition,
                logging_configuration=aws.sfn.StateMachineLoggingConfigurationArgs(
                    level="ERROR",
                    include_execution_data=True,
                    log_destination=self.state_machine_log_group.arn.apply(lambda arn: f"{arn}:*"),
                ),
            ),
            # CreateStateMachine with logging checks that the role may deliver logs ("The state machine IAM Role is
            # not authorized to access the Log Destination"): the role's inline policy must exist first.
            opts=pulumi.ResourceOptions(parent=self, depends_on=[role.policy]),
        )

    def _schedule(self, args: OrchestrationArgs, expression: str) -> aws.cloudwatch.EventRule:
        child = pulumi.ResourceOptions(parent=self)
        role = service_role(
            f"{self._name}-schedule",
            ServiceRoleArgs(
                role_name=naming.schedule_role(args.environment),
                service="events.amazonaws.com",
                account_id=args.account_id,
                description="EventBridge starts the pipeline on schedule",
                boundary_arn=args.role_boundary_arn,
                policy_name="start-pipeline",
                policy=document_json(policy_docs.schedule_role_policy, state_machine_arn=self.state_machine.arn),
            ),
            parent=self,
        ).role
        rule = aws.cloudwatch.EventRule(
            f"{self._name}-schedule",
            aws.cloudwatch.EventRuleArgs(
                name=naming.schedule_rule(args.environment),
                description=f"Start {naming.STATE_MACHINE} on {expression}",
                schedule_expression=expression,
                state="ENABLED",
            ),
            opts=child,
        )
        aws.cloudwatch.EventTarget(
            f"{self._name}-schedule-target",
            aws.cloudwatch.EventTargetArgs(
                rule=rule.name,
                target_id="start-pipeline",
                arn=self.state_machine.arn,
                role_arn=role.arn,
                input=json.dumps({"inputKey": ""}),
            ),
            opts=child,
        )
        return rule

    def _alarms(self, environment: str) -> tuple[aws.cloudwatch.MetricAlarm, aws.cloudwatch.MetricAlarm]:
        failed = self._alarm(
            "failed-executions",
            naming.failed_executions_alarm(environment),
            f"A {naming.STATE_MACHINE} execution failed, timed out or was aborted",
            [
                _state_machine_metric(metric_id, metric, self.state_machine.arn)
                for metric_id, metric in (
                    ("failed", "ExecutionsFailed"),
                    ("timedout", "ExecutionsTimedOut"),
                    ("aborted", "ExecutionsAborted"),
                )
            ],
            ("unsuccessful", "failed + timedout + aborted", "Unsuccessful"),
            "GreaterThanOrEqualToThreshold",
            1,
        )
        rejected = self._alarm(
            "rows-rejected",
            naming.rejected_rows_alarm(environment),
            "More than 5% of a run's input rows were rejected",
            [_job_metric("rejected", "RowsRejected", environment), _job_metric("rowsin", "RowsIn", environment)],
            ("ratio", "IF(rowsin > 0, rejected / rowsin, 0)", "Rejected ratio"),
            "GreaterThanThreshold",
            0.05,
        )
        return failed, rejected

    def _drift_alarm(self, environment: str) -> aws.cloudwatch.MetricAlarm:
        """Any feature drifted in a run (the job's aggregate ``DriftedFeatures``; per-feature metrics change with
        every model, so no alarm can name them). The run still published: this says the model may need retraining."""
        return self._alarm(
            "drifted-features",
            naming.drifted_features_alarm(environment),
            "A run's input drifted from the model's training data (a feature's PSI reached the drift threshold): "
            "read the run's report.html and consider retraining",
            [_job_metric("drifted", naming.DRIFTED_FEATURES_METRIC, environment)],
            ("drift", "drifted", "Drifted features"),
            "GreaterThanThreshold",
            0,
        )

    def _alarm(
        self,
        suffix: str,
        alarm_name: str,
        description: str,
        metrics: list[aws.cloudwatch.MetricAlarmMetricQueryArgs],
        value: tuple[str, str, str],
        comparison: str,
        threshold: float,
    ) -> aws.cloudwatch.MetricAlarm:
        """An alarm on ``value`` (id, expression over ``metrics``, label) that notifies the topic.

        One period is enough (a run is rare and each bad one matters); no data is not an alarm (no run, no problem).
        """
        value_id, expression, label = value
        return aws.cloudwatch.MetricAlarm(
            f"{self._name}-{suffix}",
            aws.cloudwatch.MetricAlarmArgs(
                name=alarm_name,
                alarm_description=description,
                metric_queries=[
                    *metrics,
                    aws.cloudwatch.MetricAlarmMetricQueryArgs(
                        id=value_id, expression=expression, label=label, return_data=True
                    ),
                ],
                comparison_operator=comparison,
                threshold=threshold,
                evaluation_periods=1,
                treat_missing_data="notBreaching",
                alarm_actions=[self.topic.arn],
            ),
            opts=pulumi.ResourceOptions(parent=self),
        )

    def _parameters(self, args: OrchestrationArgs) -> dict[str, aws.ssm.Parameter]:
        values: dict[str, pulumi.Input[str]] = {
            naming.PARAM_INPUT_BUCKET: args.input_bucket_name,
            naming.PARAM_OUTPUT_BUCKET: args.output_bucket_name,
            naming.PARAM_ARTIFACT_BUCKET: args.artifact_bucket_name,
            naming.PARAM_INPUT_KEY: args.input_key,
            naming.PARAM_MODEL_KEY: naming.NO_MODEL_SENTINEL,
            naming.PARAM_MODEL_SHA256: naming.NO_MODEL_SENTINEL,
        }
        parameters = {}
        for key, value in values.items():
            promoted = key in naming.PROMOTED_PARAMETER_KEYS
            operator_set = key in naming.OPERATOR_SET_PARAMETER_KEYS
            parameters[key] = aws.ssm.Parameter(
                f"{self._name}-param-{key}",
                aws.ssm.ParameterArgs(
                    name=naming.parameter_name(args.parameter_prefix, key),
                    type="String",
                    value=value,
                    description=(
                        "Set by `dsctl model promote`; Pulumi only creates it" if promoted else f"{key} of the job"
                    ),
                ),
                # `dsctl model promote` and `dsctl model failover` change these after deployment; `pulumi up` must
                # never revert a promotion or a failover (the store's bucket name is fixed, so nothing else moves it).
                opts=pulumi.ResourceOptions(parent=self, ignore_changes=["value"] if operator_set else None),
            )
        return parameters


def _metric(
    metric_id: str, namespace: str, metric: str, dimensions: dict[str, pulumi.Input[str]], period: int
) -> aws.cloudwatch.MetricAlarmMetricQueryArgs:
    """One summed metric an alarm's expression combines (not itself the alarm's value)."""
    return aws.cloudwatch.MetricAlarmMetricQueryArgs(
        id=metric_id,
        metric=aws.cloudwatch.MetricAlarmMetricQueryMetricArgs(
            namespace=namespace, metric_name=metric, dimensions=dimensions, stat="Sum", period=period
        ),
        return_data=False,
    )


def _state_machine_metric(
    metric_id: str, metric: str, state_machine_arn: pulumi.Input[str]
) -> aws.cloudwatch.MetricAlarmMetricQueryArgs:
    return _metric(metric_id, "AWS/States", metric, {"StateMachineArn": state_machine_arn}, period=300)


def _job_metric(metric_id: str, metric: str, environment: str) -> aws.cloudwatch.MetricAlarmMetricQueryArgs:
    """What the job itself reports per run (job/metrics.py), by environment."""
    return _metric(metric_id, naming.METRIC_NAMESPACE, metric, {naming.METRIC_DIMENSION: environment}, period=3600)
