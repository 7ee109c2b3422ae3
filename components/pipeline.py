"""Pipeline: everything that runs the job, from image to schedule to alarm.

ECR repository (scan on push, immutable tags, lifecycle) and the job image by digest;
ECS cluster and Fargate task definition (non-root, read-only root filesystem); task
and execution roles; security group (HTTPS egress only); log groups; the Step
Functions state machine (runTask.sync, retries, catch to an SNS notification,
timeout, logging); the optional EventBridge schedule; the SSM parameters the job
reads; and an alarm on failed executions.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import pulumi
import pulumi_aws as aws
import pulumi_docker as docker

from components import naming, pipeline_definition, policy_docs
from components.arns import StackArns
from components.build_context import image_tag
from components.json_output import document_json
from components.settings import PROJECT_DIR, StackSettings

JOB_CONTEXT = Path("job")
"""Docker build context, relative to the project directory (Pulumi runs the program there)."""
ECR_KEEP_IMAGES = 20


@dataclass(frozen=True)
class PipelineArgs:
    settings: StackSettings
    input_bucket_name: pulumi.Input[str]
    input_bucket_arn: pulumi.Input[str]
    output_bucket_name: pulumi.Input[str]
    output_bucket_arn: pulumi.Input[str]
    artifact_bucket_name: pulumi.Input[str]
    artifact_bucket_arn: pulumi.Input[str]
    artifact_kms_key_arn: pulumi.Input[str]
    job_context: Path = JOB_CONTEXT


class Pipeline(pulumi.ComponentResource):
    """The job's runtime in one account: image, task, state machine, schedule, parameters, alarm."""

    def __init__(self, name: str, args: PipelineArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("ds:pipeline:Pipeline", name, None, opts)
        self._name = name
        self._settings = s = args.settings
        self._child = pulumi.ResourceOptions(parent=self)
        env = s.environment

        self.log_group = self._log_group("job-logs", naming.log_group(env))
        self.state_machine_log_group = self._log_group("state-machine-logs", naming.state_machine_log_group(env))
        self._image(args.job_context)
        self._boundary(args)
        self._roles(args)
        self.cluster = aws.ecs.Cluster(
            f"{name}-cluster",
            aws.ecs.ClusterArgs(
                name=naming.CLUSTER, settings=[aws.ecs.ClusterSettingArgs(name="containerInsights", value="enabled")]
            ),
            opts=self._child,
        )
        self._task_definition()
        self._network()
        self.topic = aws.sns.Topic(f"{name}-alarms", aws.sns.TopicArgs(name=naming.alarm_topic(env)), opts=self._child)
        if s.alarm_email:
            aws.sns.TopicSubscription(
                f"{name}-alarm-email",
                aws.sns.TopicSubscriptionArgs(topic=self.topic.arn, protocol="email", endpoint=s.alarm_email),
                opts=self._child,
            )
        self._state_machine()
        self.schedule_rule = self._schedule() if s.schedule_enabled else None
        self._alarms()
        self.parameters = self._parameters(args)
        self.register_outputs(
            {
                "repositoryUrl": self.repository.repository_url,
                "imageDigest": self.image.repo_digest,
                "clusterArn": self.cluster.arn,
                "taskDefinitionArn": self.task_definition.arn,
                "stateMachineArn": self.state_machine.arn,
            }
        )

    # ------------------------------------------------------------------ pieces
    def _log_group(self, suffix: str, log_group_name: str) -> aws.cloudwatch.LogGroup:
        return aws.cloudwatch.LogGroup(
            f"{self._name}-{suffix}",
            aws.cloudwatch.LogGroupArgs(name=log_group_name, retention_in_days=self._settings.log_retention_days),
            opts=self._child,
        )

    def _image(self, context: Path) -> None:
        self.repository = aws.ecr.Repository(
            f"{self._name}-repository",
            aws.ecr.RepositoryArgs(
                name=naming.ECR_REPOSITORY,
                image_tag_mutability="IMMUTABLE",
                image_scanning_configuration=aws.ecr.RepositoryImageScanningConfigurationArgs(scan_on_push=True),
                encryption_configurations=[aws.ecr.RepositoryEncryptionConfigurationArgs(encryption_type="AES256")],
                force_delete=False,
            ),
            opts=self._child,
        )
        lifecycle = {
            "rules": [
                {
                    "rulePriority": 1,
                    "description": f"keep the last {ECR_KEEP_IMAGES} images (task definitions pin digests)",
                    "selection": {
                        "tagStatus": "any",
                        "countType": "imageCountMoreThan",
                        "countNumber": ECR_KEEP_IMAGES,
                    },
                    "action": {"type": "expire"},
                }
            ]
        }
        aws.ecr.LifecyclePolicy(
            f"{self._name}-repository-lifecycle",
            aws.ecr.LifecyclePolicyArgs(repository=self.repository.name, policy=json.dumps(lifecycle)),
            opts=self._child,
        )
        token = aws.ecr.get_authorization_token_output(
            registry_id=self.repository.registry_id, opts=pulumi.InvokeOutputOptions(parent=self)
        )
        tag = image_tag(context if context.is_absolute() else PROJECT_DIR / context)
        self.image = docker.Image(
            f"{self._name}-image",
            docker.ImageArgs(
                image_name=self.repository.repository_url.apply(lambda url: f"{url}:{tag}"),
                build=docker.DockerBuildArgs(
                    context=str(context), dockerfile=str(context / "Dockerfile"), platform="linux/amd64"
                ),
                registry=docker.RegistryArgs(
                    server=token.proxy_endpoint,
                    username=token.user_name,
                    password=pulumi.Output.secret(token.password),
                ),
            ),
            opts=self._child,
        )

    def _boundary(self, args: PipelineArgs) -> None:
        s = self._settings
        self.role_boundary = aws.iam.Policy(
            f"{self._name}-role-boundary",
            aws.iam.PolicyArgs(
                name=naming.role_boundary(s.environment),
                description="Permissions boundary of the pipeline's roles: the most any of them may ever be granted",
                policy=document_json(
                    policy_docs.workload_boundary,
                    arns=StackArns(s.environment, s.account_id, s.region),
                    parameter_prefix=s.parameter_prefix,
                    artifact_bucket_arn=args.artifact_bucket_arn,
                    artifact_key_arn=args.artifact_kms_key_arn,
                ),
            ),
            opts=self._child,
        )

    def _role(self, suffix: str, role_name: str, service: str, description: str) -> aws.iam.Role:
        trust = policy_docs.service_trust(service, self._settings.account_id)
        return aws.iam.Role(
            f"{self._name}-{suffix}",
            aws.iam.RoleArgs(
                name=role_name,
                description=description,
                assume_role_policy=json.dumps(trust, sort_keys=True),
                permissions_boundary=self.role_boundary.arn,
            ),
            opts=self._child,
        )

    def _role_policy(
        self, suffix: str, role: aws.iam.Role, policy_name: str, policy: pulumi.Input[str]
    ) -> aws.iam.RolePolicy:
        return aws.iam.RolePolicy(
            f"{self._name}-{suffix}",
            aws.iam.RolePolicyArgs(role=role.name, name=policy_name, policy=policy),
            opts=self._child,
        )

    def _roles(self, args: PipelineArgs) -> None:
        s = self._settings
        self.task_role = self._role(
            "task-role", naming.task_role(s.environment), "ecs-tasks.amazonaws.com", "The preprocessing job's container"
        )
        self._role_policy(
            "task-policy",
            self.task_role,
            "run-job",
            document_json(
                policy_docs.task_role_policy,
                region=s.region,
                account_id=s.account_id,
                parameter_prefix=s.parameter_prefix,
                input_bucket_arn=args.input_bucket_arn,
                output_bucket_arn=args.output_bucket_arn,
            ),
        )
        self.execution_role = self._role(
            "execution-role",
            naming.execution_role(s.environment),
            "ecs-tasks.amazonaws.com",
            "ECS pulls the job image and writes its logs",
        )
        self._role_policy(
            "execution-policy",
            self.execution_role,
            "pull-image-write-logs",
            document_json(
                policy_docs.execution_role_policy, repository_arn=self.repository.arn, log_group_arn=self.log_group.arn
            ),
        )

    def _task_definition(self) -> None:
        s = self._settings
        containers = pulumi.Output.all(image=self.image.repo_digest, log_group=self.log_group.name).apply(
            lambda v: json.dumps(
                pipeline_definition.container_definitions(
                    image=v["image"],
                    parameter_prefix=s.parameter_prefix,
                    environment=s.environment,
                    region=s.region,
                    log_group=v["log_group"],
                )
            )
        )
        self.task_definition = aws.ecs.TaskDefinition(
            f"{self._name}-task",
            aws.ecs.TaskDefinitionArgs(
                family=naming.TASK_FAMILY,
                cpu=str(s.task_cpu),
                memory=str(s.task_memory),
                network_mode="awsvpc",
                requires_compatibilities=["FARGATE"],
                runtime_platform=aws.ecs.TaskDefinitionRuntimePlatformArgs(
                    operating_system_family="LINUX", cpu_architecture="X86_64"
                ),
                task_role_arn=self.task_role.arn,
                execution_role_arn=self.execution_role.arn,
                volumes=[aws.ecs.TaskDefinitionVolumeArgs(name=pipeline_definition.SCRATCH_VOLUME)],
                container_definitions=containers,
            ),
            opts=self._child,
        )

    def _network(self) -> None:
        s = self._settings
        invoke = pulumi.InvokeOutputOptions(parent=self)
        if s.subnet_ids:
            self.subnet_ids: pulumi.Output[list[str]] = pulumi.Output.from_input(list(s.subnet_ids))
            vpc_id = aws.ec2.get_subnet_output(id=s.subnet_ids[0], opts=invoke).vpc_id
        else:
            vpc_id = aws.ec2.get_vpc_output(default=True, opts=invoke).id
            subnets = aws.ec2.get_subnets_output(
                filters=vpc_id.apply(
                    lambda vpc: [
                        aws.ec2.GetSubnetsFilterArgs(name="vpc-id", values=[vpc]),
                        aws.ec2.GetSubnetsFilterArgs(name="default-for-az", values=["true"]),
                    ]
                ),
                opts=invoke,
            )
            self.subnet_ids = subnets.ids.apply(sorted)
        self.security_group = aws.ec2.SecurityGroup(
            f"{self._name}-task-sg",
            aws.ec2.SecurityGroupArgs(
                name=naming.security_group(s.environment),
                description="Preprocessing job tasks: no inbound, HTTPS out to AWS APIs only",
                vpc_id=vpc_id,
                egress=[
                    aws.ec2.SecurityGroupEgressArgs(
                        protocol="tcp",
                        from_port=443,
                        to_port=443,
                        cidr_blocks=["0.0.0.0/0"],
                        description="HTTPS to S3, SSM, ECR, CloudWatch",
                    )
                ],
                revoke_rules_on_delete=True,
            ),
            opts=self._child,
        )

    def _state_machine(self) -> None:
        s = self._settings
        self.state_machine_role = self._role(
            "state-machine-role",
            naming.state_machine_role(s.environment),
            "states.amazonaws.com",
            "Step Functions runs the job task and reports failures",
        )
        state_machine_policy = self._role_policy(
            "state-machine-policy",
            self.state_machine_role,
            "run-job-task",
            document_json(
                policy_docs.state_machine_policy,
                region=s.region,
                account_id=s.account_id,
                cluster_arn=self.cluster.arn,
                task_role_arn=self.task_role.arn,
                execution_role_arn=self.execution_role.arn,
                topic_arn=self.topic.arn,
            ),
        )
        definition = document_json(
            pipeline_definition.state_machine_definition,
            cluster_arn=self.cluster.arn,
            task_definition_arn=self.task_definition.arn,
            subnet_ids=self.subnet_ids,
            security_group_id=self.security_group.id,
            assign_public_ip=s.assign_public_ip,
            topic_arn=self.topic.arn,
            environment=s.environment,
            timeout_seconds=s.task_timeout_minutes * 60,
        )
        self.state_machine = aws.sfn.StateMachine(
            f"{self._name}-state-machine",
            aws.sfn.StateMachineArgs(
                name=naming.STATE_MACHINE,
                type="STANDARD",
                role_arn=self.state_machine_role.arn,
                definition=definition,
                logging_configuration=aws.sfn.StateMachineLoggingConfigurationArgs(
                    level="ERROR",
                    include_execution_data=True,
                    log_destination=self.state_machine_log_group.arn.apply(lambda arn: f"{arn}:*"),
                ),
            ),
            # CreateStateMachine with logging checks that the role may deliver logs ("The state machine IAM Role is
            # not authorized to access the Log Destination"): the role's inline policy must exist first.
            opts=pulumi.ResourceOptions(parent=self, depends_on=[state_machine_policy]),
        )

    def _schedule(self) -> aws.cloudwatch.EventRule:
        s = self._settings
        role = self._role(
            "schedule-role",
            naming.schedule_role(s.environment),
            "events.amazonaws.com",
            "EventBridge starts the pipeline on schedule",
        )
        self._role_policy(
            "schedule-policy",
            role,
            "start-pipeline",
            document_json(policy_docs.schedule_role_policy, state_machine_arn=self.state_machine.arn),
        )
        rule = aws.cloudwatch.EventRule(
            f"{self._name}-schedule",
            aws.cloudwatch.EventRuleArgs(
                name=naming.schedule_rule(s.environment),
                description=f"Start {naming.STATE_MACHINE} on {s.schedule_expression}",
                schedule_expression=s.schedule_expression,
                state="ENABLED",
            ),
            opts=self._child,
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
            opts=self._child,
        )
        return rule

    def _alarms(self) -> None:
        s = self._settings
        self.failed_alarm = aws.cloudwatch.MetricAlarm(
            f"{self._name}-failed-executions",
            aws.cloudwatch.MetricAlarmArgs(
                name=naming.failed_executions_alarm(s.environment),
                alarm_description=f"A {naming.STATE_MACHINE} execution failed, timed out or was aborted",
                metric_queries=[
                    _state_machine_metric(metric_id, metric, self.state_machine.arn)
                    for metric_id, metric in (
                        ("failed", "ExecutionsFailed"),
                        ("timedout", "ExecutionsTimedOut"),
                        ("aborted", "ExecutionsAborted"),
                    )
                ]
                + [
                    aws.cloudwatch.MetricAlarmMetricQueryArgs(
                        id="unsuccessful",
                        expression="failed + timedout + aborted",
                        label="Unsuccessful",
                        return_data=True,
                    )
                ],
                comparison_operator="GreaterThanOrEqualToThreshold",
                threshold=1,
                evaluation_periods=1,
                treat_missing_data="notBreaching",
                alarm_actions=[self.topic.arn],
            ),
            opts=self._child,
        )
        self.rejected_alarm = aws.cloudwatch.MetricAlarm(
            f"{self._name}-rows-rejected",
            aws.cloudwatch.MetricAlarmArgs(
                name=naming.rejected_rows_alarm(s.environment),
                alarm_description="More than 5% of a run's input rows were rejected",
                metric_queries=[
                    _job_metric("rejected", "RowsRejected", s.environment),
                    _job_metric("rowsin", "RowsIn", s.environment),
                    aws.cloudwatch.MetricAlarmMetricQueryArgs(
                        id="ratio",
                        expression="IF(rowsin > 0, rejected / rowsin, 0)",
                        label="Rejected ratio",
                        return_data=True,
                    ),
                ],
                comparison_operator="GreaterThanThreshold",
                threshold=0.05,
                evaluation_periods=1,
                treat_missing_data="notBreaching",
                alarm_actions=[self.topic.arn],
            ),
            opts=self._child,
        )

    def _parameters(self, args: PipelineArgs) -> dict[str, aws.ssm.Parameter]:
        s = self._settings
        values: dict[str, pulumi.Input[str]] = {
            naming.PARAM_INPUT_BUCKET: args.input_bucket_name,
            naming.PARAM_OUTPUT_BUCKET: args.output_bucket_name,
            naming.PARAM_ARTIFACT_BUCKET: args.artifact_bucket_name,
            naming.PARAM_INPUT_KEY: s.input_key,
            naming.PARAM_MODEL_KEY: naming.NO_MODEL_SENTINEL,
            naming.PARAM_MODEL_SHA256: naming.NO_MODEL_SENTINEL,
        }
        parameters = {}
        for key, value in values.items():
            promoted = key in naming.PROMOTED_PARAMETER_KEYS
            parameters[key] = aws.ssm.Parameter(
                f"{self._name}-param-{key}",
                aws.ssm.ParameterArgs(
                    name=s.parameter_name(key),
                    type="String",
                    value=value,
                    description=(
                        "Set by `dsctl model promote`; Pulumi only creates it" if promoted else f"{key} of the job"
                    ),
                ),
                # `dsctl model promote` changes these after deployment; `pulumi up` must never revert a promotion.
                opts=pulumi.ResourceOptions(parent=self, ignore_changes=["value"] if promoted else None),
            )
        return parameters


def _state_machine_metric(
    metric_id: str, metric: str, state_machine_arn: pulumi.Input[str]
) -> aws.cloudwatch.MetricAlarmMetricQueryArgs:
    return aws.cloudwatch.MetricAlarmMetricQueryArgs(
        id=metric_id,
        metric=aws.cloudwatch.MetricAlarmMetricQueryMetricArgs(
            namespace="AWS/States",
            metric_name=metric,
            dimensions={"StateMachineArn": state_machine_arn},
            stat="Sum",
            period=300,
        ),
        return_data=False,
    )


def _job_metric(metric_id: str, metric: str, environment: str) -> aws.cloudwatch.MetricAlarmMetricQueryArgs:
    return aws.cloudwatch.MetricAlarmMetricQueryArgs(
        id=metric_id,
        metric=aws.cloudwatch.MetricAlarmMetricQueryMetricArgs(
            namespace=naming.METRIC_NAMESPACE,
            metric_name=metric,
            dimensions={"Environment": environment},
            stat="Sum",
            period=3600,
        ),
        return_data=False,
    )
