"""The ARNs of this stack's own resources, derived from their fixed names.

Physical names are fixed (``naming``), so their ARNs are known before anything exists.
Documents that must exist *before* the resources they name (the deploy role's policy,
the workload roles' permissions boundary) are built from these instead of Outputs.
"""

from __future__ import annotations

from dataclasses import dataclass

from components import naming


@dataclass(frozen=True)
class StackArns:
    environment: str
    account_id: str
    region: str

    @property
    def _regional(self) -> str:
        return f"{self.region}:{self.account_id}"

    def role(self, name: str) -> str:
        return f"arn:aws:iam::{self.account_id}:role/{name}"

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
    def operator_role(self) -> str:
        return self.role(naming.operator_role())

    @property
    def bounded_roles(self) -> list[str]:
        """Every role the deploy role manages, each only with its permissions boundary: workload roles, operator."""
        return [*self.workload_roles, self.operator_role]

    @property
    def deploy_role(self) -> str:
        return self.role(naming.deploy_role(self.environment))

    @property
    def state_machine_executions(self) -> str:
        """Every (standard) execution of the state machine."""
        return f"arn:aws:states:{self._regional}:execution:{naming.STATE_MACHINE}:*"

    @property
    def state_machine_express_executions(self) -> str:
        """Express executions of the state machine (it has none: it is STANDARD; for complete ARN patterns)."""
        return f"arn:aws:states:{self._regional}:express:{naming.STATE_MACHINE}:*:*"

    @property
    def state_machine_map_runs(self) -> str:
        """Map runs of the state machine (it has no Map state; for complete ARN patterns)."""
        return f"arn:aws:states:{self._regional}:mapRun:{naming.STATE_MACHINE}/*:*"

    @property
    def role_boundary(self) -> str:
        return f"arn:aws:iam::{self.account_id}:policy/{naming.role_boundary(self.environment)}"

    @property
    def operator_boundary(self) -> str:
        return f"arn:aws:iam::{self.account_id}:policy/{naming.operator_boundary(self.environment)}"

    @property
    def input_bucket(self) -> str:
        return f"arn:aws:s3:::{naming.input_bucket(self.environment, self.account_id, self.region)}"

    @property
    def output_bucket(self) -> str:
        return f"arn:aws:s3:::{naming.output_bucket(self.environment, self.account_id, self.region)}"

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
    def state_machine(self) -> str:
        return f"arn:aws:states:{self._regional}:stateMachine:{naming.STATE_MACHINE}"

    @property
    def job_log_group(self) -> str:
        return f"arn:aws:logs:{self._regional}:log-group:{naming.log_group(self.environment)}"

    @property
    def state_machine_log_group(self) -> str:
        return f"arn:aws:logs:{self._regional}:log-group:{naming.state_machine_log_group(self.environment)}"

    @property
    def alarm_topic(self) -> str:
        return f"arn:aws:sns:{self._regional}:{naming.alarm_topic(self.environment)}"

    @property
    def alarms(self) -> list[str]:
        return [
            f"arn:aws:cloudwatch:{self._regional}:alarm:{name(self.environment)}"
            for name in (naming.failed_executions_alarm, naming.rejected_rows_alarm)
        ]

    @property
    def schedule_rule(self) -> str:
        return f"arn:aws:events:{self._regional}:rule/{naming.schedule_rule(self.environment)}"
