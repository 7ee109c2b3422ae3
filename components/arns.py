"""The ARNs of this stack's own resources, derived from their fixed names.

Physical names are fixed (``naming``), so their ARNs are known before anything exists.
Documents that must exist *before* the resources they name (the deploy role's policy,
the workload roles' permissions boundary) are built from these instead of Outputs, and
dsctl finds the resources by them. Nothing outside this module formats these ARNs.
"""

from __future__ import annotations

from dataclasses import dataclass

from components import naming

SYNC_TASK_EVENTS_RULE = "StepFunctionsGetEventsForECSTaskRule"
"""The managed EventBridge rule Step Functions creates in the account for ``ecs:runTask.sync``."""


class _AccountResources:
    """ARNs of the project's resources whose names hold no environment (one of each per account and region)."""

    account_id: str
    region: str

    @property
    def _regional(self) -> str:
        return f"{self.region}:{self.account_id}"

    def role(self, name: str) -> str:
        return f"arn:aws:iam::{self.account_id}:role/{name}"

    def managed_policy(self, name: str) -> str:
        return f"arn:aws:iam::{self.account_id}:policy/{name}"

    def log_group(self, name: str) -> str:
        return f"arn:aws:logs:{self._regional}:log-group:{name}"

    @staticmethod
    def bucket(name: str) -> str:
        return f"arn:aws:s3:::{name}"

    def parameter(self, name: str) -> str:
        """One SSM parameter by its full name (``/ds/preprocessing/model-key``)."""
        return f"arn:aws:ssm:{self._regional}:parameter/{name.strip('/')}"

    def parameter_path(self, prefix: str) -> list[str]:
        """The path itself (GetParametersByPath) and every parameter under it."""
        path = self.parameter(prefix)
        return [path, f"{path}/*"]

    @property
    def operator_role(self) -> str:
        return self.role(naming.operator_role())

    @property
    def promoter_role(self) -> str:
        return self.role(naming.promoter_role())

    @property
    def state_machine(self) -> str:
        return f"arn:aws:states:{self._regional}:stateMachine:{naming.STATE_MACHINE}"

    @property
    def state_machine_executions(self) -> str:
        """Every (standard) execution of the state machine."""
        return f"arn:aws:states:{self._regional}:execution:{naming.STATE_MACHINE}:*"

    @property
    def state_machine_express_executions(self) -> str:
        """Express executions of the state machine (it has none: it is STANDARD; for complete ARN patterns)."""
        return f"arn:aws:states:{self._regional}:express:{naming.STATE_MACHINE}:*:*"

    @property
    def state_machine_map_executions(self) -> str:
        """The child executions of the state machine's Distributed Map runs (``execution:<machine>/<label>:<id>``)."""
        return f"arn:aws:states:{self._regional}:execution:{naming.STATE_MACHINE}/*:*"

    @property
    def state_machine_map_express_executions(self) -> str:
        """EXPRESS children of its Map runs (there are none: the Map's children are STANDARD; the IAM definitions
        list both kinds for DescribeExecution, so the linter wants both named)."""
        return f"arn:aws:states:{self._regional}:express:{naming.STATE_MACHINE}/*:*:*"

    @property
    def state_machine_map_runs(self) -> str:
        """Map runs of the state machine's Distributed Map (the scale-out path's batches)."""
        return f"arn:aws:states:{self._regional}:mapRun:{naming.STATE_MACHINE}/*:*"

    @property
    def repository(self) -> str:
        return f"arn:aws:ecr:{self._regional}:repository/{naming.ECR_REPOSITORY}"

    @property
    def cluster(self) -> str:
        return f"arn:aws:ecs:{self._regional}:cluster/{naming.CLUSTER}"

    @property
    def task_definitions(self) -> str:
        """Every revision of the task family."""
        return f"arn:aws:ecs:{self._regional}:task-definition/{naming.TASK_FAMILY}:*"

    @property
    def tasks(self) -> str:
        """Every task in the cluster."""
        return f"arn:aws:ecs:{self._regional}:task/{naming.CLUSTER}/*"

    @property
    def sync_task_events_rule(self) -> str:
        return f"arn:aws:events:{self._regional}:rule/{SYNC_TASK_EVENTS_RULE}"

    @property
    def security_groups(self) -> str:
        """Every security group of the account and region (their ids are generated: no narrower ARN exists)."""
        return f"arn:aws:ec2:{self._regional}:security-group/*"

    @property
    def vpcs(self) -> str:
        return f"arn:aws:ec2:{self._regional}:vpc/*"


@dataclass(frozen=True)
class AccountArns(_AccountResources):
    """The environment-free ARNs of one account and region (for documents that take no environment)."""

    account_id: str
    region: str


@dataclass(frozen=True)
class StackArns(_AccountResources):
    """Every ARN of one stack's own resources."""

    environment: str
    account_id: str
    region: str

    @property
    def task_role(self) -> str:
        return self.role(naming.task_role(self.environment))

    @property
    def execution_role(self) -> str:
        return self.role(naming.execution_role(self.environment))

    @property
    def state_machine_role(self) -> str:
        return self.role(naming.state_machine_role(self.environment))

    @property
    def schedule_role(self) -> str:
        return self.role(naming.schedule_role(self.environment))

    @property
    def workload_roles(self) -> list[str]:
        """Every role the pipeline runs as (not the deploy role)."""
        return [self.task_role, self.execution_role, self.state_machine_role, self.schedule_role]

    @property
    def bounded_roles(self) -> list[str]:
        """Every role held under a permissions boundary: workload roles, operator, promoter (CI's deploy role only
        reads them)."""
        return [*self.workload_roles, self.operator_role, self.promoter_role]

    @property
    def deploy_role(self) -> str:
        return self.role(naming.deploy_role(self.environment))

    @property
    def preview_role(self) -> str:
        return self.role(naming.preview_role(self.environment))

    @property
    def role_boundary(self) -> str:
        return self.managed_policy(naming.role_boundary(self.environment))

    @property
    def operator_boundary(self) -> str:
        return self.managed_policy(naming.operator_boundary(self.environment))

    @property
    def promoter_boundary(self) -> str:
        return self.managed_policy(naming.promoter_boundary(self.environment))

    @property
    def input_bucket(self) -> str:
        return self.bucket(naming.input_bucket(self.environment, self.account_id, self.region))

    @property
    def output_bucket(self) -> str:
        return self.bucket(naming.output_bucket(self.environment, self.account_id, self.region))

    @property
    def job_log_group(self) -> str:
        return self.log_group(naming.log_group(self.environment))

    @property
    def state_machine_log_group(self) -> str:
        return self.log_group(naming.state_machine_log_group(self.environment))

    @property
    def alarm_topic(self) -> str:
        return f"arn:aws:sns:{self._regional}:{naming.alarm_topic(self.environment)}"

    @property
    def alarms(self) -> list[str]:
        return [
            f"arn:aws:cloudwatch:{self._regional}:alarm:{name(self.environment)}"
            for name in (
                naming.failed_executions_alarm,
                naming.rejected_rows_alarm,
                naming.drifted_features_alarm,
                naming.store_access_denied_alarm,
            )
        ]

    @property
    def audit_trail(self) -> str:
        return f"arn:aws:cloudtrail:{self._regional}:trail/{naming.audit_trail(self.environment)}"

    @property
    def audit_trail_role(self) -> str:
        return self.role(naming.audit_trail_role(self.environment))

    @property
    def audit_trail_log_group(self) -> str:
        return self.log_group(naming.audit_trail_log_group(self.environment))

    @property
    def audit_log_bucket(self) -> str:
        return self.bucket(naming.audit_log_bucket(self.environment, self.account_id, self.region))

    @property
    def alert_rules(self) -> list[str]:
        """The rules that may publish to the alarm topic: every ``naming.ALERT_RULE_PREFIX`` rule of the stack."""
        return [f"arn:aws:events:{self._regional}:rule/{naming.alert_rule(self.environment, w)}" for w in naming.ALERTS]

    @property
    def alarm_topic_publishing_rules(self) -> list[str]:
        """Every EventBridge rule of the stack that notifies the alarm topic: the alerts, the model parameter rule."""
        return [*self.alert_rules, self.model_parameter_rule]

    @property
    def schedule_rule(self) -> str:
        return f"arn:aws:events:{self._regional}:rule/{naming.schedule_rule(self.environment)}"

    @property
    def model_parameter_rule(self) -> str:
        return f"arn:aws:events:{self._regional}:rule/{naming.model_parameter_rule(self.environment)}"
