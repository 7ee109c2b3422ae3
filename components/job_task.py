"""JobTask: what one run of the job is -- the Fargate task definition with its roles, cluster, logs and network.

The task role may read the input bucket, write the output bucket and read this stack's
parameters (reading models is granted by the store, which knows where they are); the
execution role may only pull this repository and write this log group. Both roles, and the
orchestration's roles, are held under one permissions boundary created here
(``role_boundary``), so no inline policy can grant a workload role more (CI's deploy role
changes neither: roles and policies are admin deploys). The security
group allows no inbound and HTTPS out only. ``launch`` is everything needed to start the task.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

from components import naming, pipeline_definition, policy_docs, tokens
from components.arns import StackArns
from components.json_output import document_json
from components.model_access import ModelStoreLocation
from components.service_role import ServiceRoleArgs, service_role

TASK_SERVICE = "ecs-tasks.amazonaws.com"


@dataclass(frozen=True)
class JobTaskArgs:
    environment: str
    account_id: str
    region: str
    parameter_prefix: str
    """The job reads its locations from SSM under this prefix (the task role may read nothing else there)."""
    log_retention_days: int
    cpu: int
    memory: int
    subnet_ids: Sequence[str]
    """Where tasks run; empty = the default VPC's default subnets, found at deploy time."""
    assign_public_ip: bool
    """Needed in subnets without NAT (the default VPC) to reach ECR, S3 and SSM."""
    image: pulumi.Input[str]
    """The image by digest (``JobImage.digest``)."""
    image_digest: pulumi.Input[str]
    """Its ``sha256:…`` alone, handed to the job so every run manifest records which image ran."""
    repository_arn: pulumi.Input[str]
    """The only repository the execution role may pull from."""
    input_bucket_arn: pulumi.Input[str]
    output_bucket_arn: pulumi.Input[str]
    store: ModelStoreLocation
    """The artifact store: the boundary must allow reading models (the grant itself comes from the store)."""
    max_parallel_tasks: int = 10
    """How many batches the job's plan makes of a month given as a prefix (``DS_MAX_PARALLEL_TASKS``)."""


@dataclass(frozen=True)
class TaskLaunch:
    """What starting the task needs (the state machine's runTask parameters, and the roles it must pass)."""

    cluster_arn: pulumi.Input[str]
    task_definition_arn: pulumi.Input[str]
    task_role_arn: pulumi.Input[str]
    execution_role_arn: pulumi.Input[str]
    subnet_ids: pulumi.Input[list[str]]
    security_group_id: pulumi.Input[str]
    assign_public_ip: bool


class JobTask(pulumi.ComponentResource):
    """Log group, role boundary, task and execution roles, cluster, task definition and security group."""

    log_group: aws.cloudwatch.LogGroup
    role_boundary: aws.iam.Policy
    task_role: aws.iam.Role
    execution_role: aws.iam.Role
    cluster: aws.ecs.Cluster
    task_definition: aws.ecs.TaskDefinition
    subnet_ids: pulumi.Output[list[str]]
    security_group: aws.ec2.SecurityGroup
    launch: TaskLaunch

    def __init__(self, name: str, args: JobTaskArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__(tokens.JOB_TASK_COMPONENT, name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        env = args.environment
        self.log_group = aws.cloudwatch.LogGroup(
            f"{name}-logs",
            aws.cloudwatch.LogGroupArgs(name=naming.log_group(env), retention_in_days=args.log_retention_days),
            opts=child,
        )
        self.role_boundary = aws.iam.Policy(
            f"{name}-role-boundary",
            aws.iam.PolicyArgs(
                name=naming.role_boundary(env),
                description="Permissions boundary of the pipeline's roles: the most any of them may ever be granted",
                policy=document_json(
                    policy_docs.workload_boundary,
                    arns=StackArns(env, args.account_id, args.region),
                    parameter_prefix=args.parameter_prefix,
                    **args.store.read_inputs(),
                ),
            ),
            opts=child,
        )
        self.task_role = service_role(
            name,
            ServiceRoleArgs(
                role_name=naming.task_role(env),
                service=TASK_SERVICE,
                account_id=args.account_id,
                description="The preprocessing job's container",
                boundary_arn=self.role_boundary.arn,
                policy_name="run-job",
                policy=document_json(
                    policy_docs.task_role_policy,
                    region=args.region,
                    account_id=args.account_id,
                    parameter_prefix=args.parameter_prefix,
                    input_bucket_arn=args.input_bucket_arn,
                    output_bucket_arn=args.output_bucket_arn,
                ),
            ),
            parent=self,
        ).role
        self.execution_role = service_role(
            f"{name}-execution",
            ServiceRoleArgs(
                role_name=naming.execution_role(env),
                service=TASK_SERVICE,
                account_id=args.account_id,
                description="ECS pulls the job image and writes its logs",
                boundary_arn=self.role_boundary.arn,
                policy_name="pull-image-write-logs",
                policy=document_json(
                    policy_docs.execution_role_policy,
                    repository_arn=args.repository_arn,
                    log_group_arn=self.log_group.arn,
                ),
            ),
            parent=self,
        ).role
        self.cluster = aws.ecs.Cluster(
            f"{name}-cluster",
            aws.ecs.ClusterArgs(
                name=naming.CLUSTER, settings=[aws.ecs.ClusterSettingArgs(name="containerInsights", value="enabled")]
            ),
            opts=child,
        )
        self.task_definition = self._task_definition(name, args)
        self.subnet_ids, vpc_id = _network(args.subnet_ids, pulumi.InvokeOutputOptions(parent=self))
        self.security_group = aws.ec2.SecurityGroup(
            f"{name}-sg",
            aws.ec2.SecurityGroupArgs(
                name=naming.security_group(env),
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
            opts=child,
        )
        self.launch = TaskLaunch(
            cluster_arn=self.cluster.arn,
            task_definition_arn=self.task_definition.arn,
            task_role_arn=self.task_role.arn,
            execution_role_arn=self.execution_role.arn,
            subnet_ids=self.subnet_ids,
            security_group_id=self.security_group.id,
            assign_public_ip=args.assign_public_ip,
        )
        self.register_outputs(
            {
                "clusterArn": self.cluster.arn,
                "taskDefinitionArn": self.task_definition.arn,
                "securityGroupId": self.security_group.id,
            }
        )

    def _task_definition(self, name: str, args: JobTaskArgs) -> aws.ecs.TaskDefinition:
        containers = pulumi.Output.all(
            image=args.image, image_digest=args.image_digest, log_group=self.log_group.name
        ).apply(
            lambda v: json.dumps(
                pipeline_definition.container_definitions(
                    image=v["image"],
                    image_digest=v["image_digest"],
                    parameter_prefix=args.parameter_prefix,
                    environment=args.environment,
                    region=args.region,
                    log_group=v["log_group"],
                    max_parallel_tasks=args.max_parallel_tasks,
                )
            )
        )
        return aws.ecs.TaskDefinition(
            f"{name}-definition",
            aws.ecs.TaskDefinitionArgs(
                family=naming.TASK_FAMILY,
                cpu=str(args.cpu),
                memory=str(args.memory),
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
            opts=pulumi.ResourceOptions(parent=self),
        )


def _network(
    subnet_ids: Sequence[str], invoke: pulumi.InvokeOutputOptions
) -> tuple[pulumi.Output[list[str]], pulumi.Output[str]]:
    """The task's subnets and their VPC: the configured subnets, else the default VPC's default-for-AZ subnets."""
    if subnet_ids:
        vpc_id = aws.ec2.get_subnet_output(id=subnet_ids[0], opts=invoke).vpc_id
        return pulumi.Output.from_input(list(subnet_ids)), vpc_id
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
    return subnets.ids.apply(sorted), vpc_id
