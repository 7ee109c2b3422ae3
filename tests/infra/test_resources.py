"""What each stack creates, and the hardening every resource carries (offline, via ``dsctl.synth``)."""

from __future__ import annotations

import re
from typing import Any

import pytest

from components import naming
from components.pipeline_definition import JOB_USER
from components.policy_docs import STAR_ONLY_ACTIONS
from dsctl.synth import SynthResource, SynthResult
from job import metrics as job_metrics

DEV = "123456789012"
PROD = "987654321098"
BUCKET = "aws:s3/bucket:Bucket"
ROLE = "aws:iam/role:Role"
ROLE_POLICY = "aws:iam/rolePolicy:RolePolicy"
PARAMETER = "aws:ssm/parameter:Parameter"
TASK_DEFINITION = "aws:ecs/taskDefinition:TaskDefinition"
STATE_MACHINE = "aws:sfn/stateMachine:StateMachine"
COMPONENT_TYPES = {
    "ds:storage:SecureBucket",
    "ds:storage:ArtifactStore",
    "ds:access:CrossAccountAccess",
    "ds:access:CiAccess",
    "ds:access:OperatorRole",
    "ds:access:PromoterRole",
    "ds:runtime:JobImage",
    "ds:runtime:JobTask",
    "ds:runtime:Orchestration",
    "ds:audit:Audit",
}


def bucket_child(stack: SynthResult, token: str, bucket: str) -> dict[str, Any]:
    """The inputs of the one ``token`` resource configuring ``bucket``."""
    (match,) = [r for r in stack.of_type(token) if r.inputs["bucket"] == bucket]
    return match.inputs


def bucket_names(stack: SynthResult) -> list[str]:
    return sorted(r.id or "" for r in stack.of_type(BUCKET))


def role_policies(stack: SynthResult, role_name: str) -> dict[str, dict[str, Any]]:
    """Inline policies of a role, by policy name."""
    return {r.inputs["name"]: r.inputs["policy"] for r in stack.of_type(ROLE_POLICY) if r.inputs["role"] == role_name}


def statements(document: dict[str, Any]) -> list[dict[str, Any]]:
    found = document["Statement"]
    return found if isinstance(found, list) else [found]


def as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


# ----------------------------------------------------------------------------- inventory

EXPECTED_IN_BOTH = [
    ("pulumi:providers:aws", None),
    ("aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock", None),
    ("aws:ecr/repository:Repository", "image-repository"),
    ("aws:ecr/lifecyclePolicy:LifecyclePolicy", "image-repository-lifecycle"),
    ("aws:ecs/cluster:Cluster", "task-cluster"),
    (TASK_DEFINITION, "task-definition"),
    ("aws:ec2/securityGroup:SecurityGroup", "task-sg"),
    ("aws:cloudwatch/logGroup:LogGroup", "task-logs"),
    ("aws:cloudwatch/logGroup:LogGroup", "pipeline-state-machine-logs"),
    (STATE_MACHINE, "pipeline-state-machine"),
    ("aws:sns/topic:Topic", "pipeline-alarms"),
    ("aws:cloudwatch/metricAlarm:MetricAlarm", "pipeline-failed-executions"),
    ("aws:cloudwatch/metricAlarm:MetricAlarm", "pipeline-rows-rejected"),
    ("aws:cloudwatch/metricAlarm:MetricAlarm", "pipeline-drifted-features"),
    (ROLE, "task-role"),
    (ROLE, "task-execution-role"),
    (ROLE, "pipeline-state-machine-role"),
    (ROLE_POLICY, "task-read-models"),
    (ROLE, "operator-role"),
    (ROLE_POLICY, "operator-policy"),
    ("aws:iam/policy:Policy", "operator-boundary"),
]


@pytest.mark.parametrize(("token", "name"), EXPECTED_IN_BOTH)
def test_every_expected_resource_exists(any_stack: SynthResult, token: str, name: str | None) -> None:
    if name is None:
        assert any_stack.of_type(token)
    else:
        any_stack.get(token, name)


def test_dev_buckets_include_the_artifact_store(dev_stack: SynthResult) -> None:
    assert bucket_names(dev_stack) == [
        f"ds-artifacts-dev-{DEV}-us-east-1",
        f"ds-artifacts-dev-{DEV}-us-west-2",  # the store's replica (artifactReplicaRegion)
        f"ds-audit-dev-{DEV}-us-east-1",
        f"ds-input-dev-{DEV}-us-east-1",
        f"ds-output-dev-{DEV}-us-east-1",
    ]
    dev_stack.get("aws:kms/key:Key", "artifacts-key")
    assert dev_stack.get("aws:kms/alias:Alias", "artifacts-key-alias").inputs["name"] == "alias/ds-artifacts-dev"
    assert not dev_stack.of_type("pulumi:pulumi:StackReference")


def test_prod_has_no_store_but_a_reference(prod_stack: SynthResult) -> None:
    assert bucket_names(prod_stack) == [
        f"ds-audit-prod-{PROD}-us-east-1",
        f"ds-input-prod-{PROD}-us-east-1",
        f"ds-output-prod-{PROD}-us-east-1",
    ]
    assert not prod_stack.of_type("aws:kms/key:Key")
    (reference,) = prod_stack.of_type("pulumi:pulumi:StackReference")
    assert reference.read and reference.id == "organization/ds-preprocessing/dev"


def test_components_parent_their_resources(any_stack: SynthResult) -> None:
    components = {r.urn: r for r in any_stack.resources if r.type in COMPONENT_TYPES}
    # Every stack has every component but one kind of store: its own, or access to another account's.
    stores = {"ds:storage:ArtifactStore", "ds:access:CrossAccountAccess"}
    found = {r.type for r in components.values()}
    promoter = {"ds:access:PromoterRole"} if any_stack.settings.has_promoter else set()  # production stacks only
    assert found - stores == COMPONENT_TYPES - stores - {"ds:access:PromoterRole"} | promoter
    assert len(found & stores) == 1
    for resource in any_stack.resources:
        if resource.type.startswith(("aws:", "docker:")):
            assert resource.parent in components, f"{resource.name} is not inside a component"
        if resource.type in COMPONENT_TYPES:
            assert not resource.custom


# ----------------------------------------------------------------------------- provider


def test_provider_pins_the_account_and_tags(any_stack: SynthResult) -> None:
    (provider,) = any_stack.of_type("pulumi:providers:aws")
    settings = any_stack.settings
    assert provider.inputs["allowedAccountIds"] == [settings.account_id]
    assert provider.inputs["region"] == "us-east-1"
    assert provider.inputs["defaultTags"] == {
        "tags": {"Project": "ds-preprocessing", "Environment": settings.environment, "ManagedBy": "pulumi"}
    }
    assert "assumeRoles" not in provider.inputs  # the provider never chains roles: CI holds the stack's own role
    provider_ref = f"{provider.urn}::{provider.id}"
    for resource in any_stack.resources:
        if resource.type.startswith("aws:"):
            assert resource.provider == provider_ref, resource.name


# ----------------------------------------------------------------------------- buckets


def test_every_bucket_is_hardened(any_stack: SynthResult) -> None:
    for bucket in bucket_names(any_stack):
        arn = f"arn:aws:s3:::{bucket}"
        block = bucket_child(any_stack, "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock", bucket)
        assert all(
            block[k] is True
            for k in ("blockPublicAcls", "blockPublicPolicy", "ignorePublicAcls", "restrictPublicBuckets")
        )
        ownership = bucket_child(any_stack, "aws:s3/bucketOwnershipControls:BucketOwnershipControls", bucket)
        assert ownership["rule"] == {"objectOwnership": "BucketOwnerEnforced"}
        versioning = bucket_child(any_stack, "aws:s3/bucketVersioning:BucketVersioning", bucket)
        assert versioning["versioningConfiguration"]["status"] == "Enabled"
        sse = bucket_child(
            any_stack, "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration", bucket
        )
        assert sse["rules"][0]["applyServerSideEncryptionByDefault"]["sseAlgorithm"] in {"AES256", "aws:kms"}
        lifecycle = bucket_child(any_stack, "aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration", bucket)
        rules = {rule["id"]: rule for rule in lifecycle["rules"]}
        assert rules["abort-incomplete-multipart-uploads"]["abortIncompleteMultipartUpload"]["daysAfterInitiation"] > 0
        assert rules["expire-noncurrent-versions"]["noncurrentVersionExpiration"]["noncurrentDays"] > 0
        (deny,) = [
            s
            for s in statements(bucket_child(any_stack, "aws:s3/bucketPolicy:BucketPolicy", bucket)["policy"])
            if s["Sid"] == "DenyInsecureTransport"
        ]
        assert deny["Effect"] == "Deny" and deny["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}
        assert deny["Principal"] == "*" and sorted(deny["Resource"]) == [arn, f"{arn}/*"]


def test_bucket_policy_waits_for_the_public_access_block(any_stack: SynthResult) -> None:
    blocks = {
        r.inputs["bucket"]: r.urn for r in any_stack.of_type("aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock")
    }
    for policy in any_stack.of_type("aws:s3/bucketPolicy:BucketPolicy"):
        assert blocks[policy.inputs["bucket"]] in policy.depends_on


def test_lifecycle_rules_wait_for_versioning(any_stack: SynthResult) -> None:
    """Noncurrent-version expiry is written after versioning is on (pulumi-aws 7 BucketLifecycleConfiguration docs
    make the lifecycle of a versioned bucket ``depends_on`` its BucketVersioning)."""
    versionings = {r.inputs["bucket"]: r.urn for r in any_stack.of_type("aws:s3/bucketVersioning:BucketVersioning")}
    lifecycles = any_stack.of_type("aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration")
    assert sorted(r.inputs["bucket"] for r in lifecycles) == sorted(versionings)
    for lifecycle in lifecycles:
        assert versionings[lifecycle.inputs["bucket"]] in lifecycle.depends_on


def test_output_bucket_expires_staging_leftovers(any_stack: SynthResult) -> None:
    lifecycle = bucket_child(
        any_stack,
        "aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration",
        any_stack.outputs["outputBucketName"],
    )
    (staging,) = [rule for rule in lifecycle["rules"] if rule["filter"] == {"prefix": "_staging/"}]
    assert staging["expiration"]["days"] == 7


def test_data_expires_only_where_the_stack_declares_retention(any_stack: SynthResult) -> None:
    """dataRetentionDays (dev 30, prod 0): current objects and old versions of the input and output data expire."""
    days = any_stack.settings.data_retention_days
    for bucket in (any_stack.outputs["inputBucketName"], any_stack.outputs["outputBucketName"]):
        lifecycle = bucket_child(any_stack, "aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration", bucket)
        rules = {rule["id"]: rule for rule in lifecycle["rules"]}
        noncurrent = rules["expire-noncurrent-versions"]["noncurrentVersionExpiration"]["noncurrentDays"]
        if days:
            assert rules["expire-data"] == {
                "id": "expire-data",
                "status": "Enabled",
                "filter": {"prefix": ""},
                "expiration": {"days": days},
            }
            assert noncurrent == days
        else:
            assert "expire-data" not in rules and noncurrent == 90
    # The store is never expired by it: models are kept whatever the stack's data retention.
    if any_stack.settings.owns_artifact_store:
        store = bucket_child(
            any_stack,
            "aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration",
            any_stack.outputs["artifactBucketName"],
        )
        assert not [rule for rule in store["rules"] if "expiration" in rule]


def test_artifact_store_uses_its_rotating_customer_managed_key(dev_stack: SynthResult) -> None:
    key = dev_stack.get("aws:kms/key:Key", "artifacts-key")
    assert key.inputs["enableKeyRotation"] is True
    bucket = f"ds-artifacts-dev-{DEV}-us-east-1"
    sse = bucket_child(
        dev_stack, "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration", bucket
    )["rules"][0]
    assert sse["applyServerSideEncryptionByDefault"] == {
        "sseAlgorithm": "aws:kms",
        "kmsMasterKeyId": dev_stack.outputs["artifactKmsKeyArn"],
    }
    assert sse["bucketKeyEnabled"] is True
    assert dev_stack.outputs["artifactKmsKeyArn"].startswith(f"arn:aws:kms:us-east-1:{DEV}:key/")


def test_artifact_store_grants_readers_only_models(dev_stack: SynthResult) -> None:
    bucket = f"ds-artifacts-dev-{DEV}-us-east-1"
    policy = bucket_child(dev_stack, "aws:s3/bucketPolicy:BucketPolicy", bucket)["policy"]
    allows = [s for s in statements(policy) if s["Effect"] == "Allow"]
    patterns = [
        f"arn:aws:iam::{PROD}:role/ds-preprocessing-task-*",
        f"arn:aws:iam::{PROD}:role/ds-preprocessing-operator",
        f"arn:aws:iam::{PROD}:role/ds-preprocessing-promoter",  # promote reads the model as the job will
    ]
    by_action = {tuple(s["Action"]): s for s in allows}
    assert set(by_action) == {("s3:GetObject",), ("s3:ListBucket",)}
    for grant in allows:
        assert grant["Principal"] == {"AWS": [f"arn:aws:iam::{PROD}:root"]}
        assert grant["Condition"]["ArnLike"] == {"aws:PrincipalArn": patterns}
    assert by_action[("s3:GetObject",)]["Resource"] == [f"arn:aws:s3:::{bucket}/models/*"]
    assert by_action[("s3:ListBucket",)]["Condition"]["StringLike"] == {"s3:prefix": ["models/*"]}


def test_key_policy_lets_readers_only_decrypt_through_s3(dev_stack: SynthResult) -> None:
    policy = dev_stack.get("aws:kms/key:Key", "artifacts-key").inputs["policy"]
    by_sid = {s["Sid"]: s for s in statements(policy)}
    reader = by_sid["ReaderAccountsDecryptModelsThroughS3"]
    assert reader["Action"] == ["kms:Decrypt"]
    assert reader["Principal"] == {"AWS": [f"arn:aws:iam::{PROD}:root"]}
    assert reader["Condition"]["StringEquals"] == {"kms:ViaService": "s3.us-east-1.amazonaws.com"}
    own_use = by_sid["OwningAccountUsesThroughS3"]
    assert own_use["Condition"]["StringEquals"]["kms:ViaService"] == "s3.us-east-1.amazonaws.com"
    admin = by_sid["OwningAccountAdministers"]
    assert "kms:EnableKeyRotation" in admin["Action"] and not any("*" in a for a in admin["Action"])
    assert not {"kms:Decrypt", "kms:Encrypt"} & set(admin["Action"])
    # disabling, deleting or re-policying the key: the configured administrators only, whoever else the account has
    assert not {"kms:DisableKey", "kms:PutKeyPolicy", "kms:ScheduleKeyDeletion"} & set(admin["Action"])
    break_glass = by_sid["OnlyAdminsDisableDeleteOrRepolicy"]
    assert sorted(break_glass["Action"]) == ["kms:DisableKey", "kms:PutKeyPolicy", "kms:ScheduleKeyDeletion"]
    assert break_glass["Condition"] == {"ArnLike": {"aws:PrincipalArn": list(dev_stack.settings.admin_principal_arns)}}


def test_the_store_bucket_policy_makes_models_write_once(dev_stack: SynthResult) -> None:
    """The immutability denies are on the store (and only there), exempting exactly the configured admins."""
    store = dev_stack.outputs["artifactBucketName"]
    arn = f"arn:aws:s3:::{store}"
    by_sid = {
        s["Sid"]: s for s in statements(bucket_child(dev_stack, "aws:s3/bucketPolicy:BucketPolicy", store)["policy"])
    }
    unless_admin = {"ArnNotLike": {"aws:PrincipalArn": list(dev_stack.settings.admin_principal_arns)}}
    unconditional = by_sid["DenyModelWritesWithoutIfNoneMatch"]
    assert (unconditional["Effect"], unconditional["Principal"], unconditional["Action"]) == (
        "Deny",
        "*",
        ["s3:PutObject"],
    )
    assert unconditional["Resource"] == [f"{arn}/models/*"]
    assert unconditional["Condition"] == {
        "Null": {"s3:if-none-match": "true"},
        "Bool": {"s3:ObjectCreationOperation": "true"},
        **unless_admin,
    }
    assert by_sid["DenyModelOverwritesWithIfMatch"]["Condition"] == {"Null": {"s3:if-match": "false"}, **unless_admin}
    assert by_sid["DenyModelDeletes"]["Action"] == ["s3:DeleteObject", "s3:DeleteObjectVersion"]
    governance = by_sid["DenyStoreGovernanceChanges"]
    assert governance["Resource"] == [arn] and governance["Condition"] == unless_admin
    assert {"s3:PutBucketPolicy", "s3:PutBucketVersioning", "s3:PutReplicationConfiguration"} <= set(
        governance["Action"]
    )
    data_policy = bucket_child(dev_stack, "aws:s3/bucketPolicy:BucketPolicy", dev_stack.outputs["inputBucketName"])
    assert [s["Sid"] for s in statements(data_policy["policy"])] == ["DenyInsecureTransport"]


# ----------------------------------------------------------------------------- logs, image, task


def test_log_retention_follows_the_stack(any_stack: SynthResult) -> None:
    days = {"dev": 7, "prod": 30}[any_stack.stack]
    groups = {r.inputs["name"]: r.inputs for r in any_stack.of_type("aws:cloudwatch/logGroup:LogGroup")}
    env = any_stack.settings.environment
    # The owning stack's trail also delivers to CloudWatch Logs (the denied-access metric filter reads it).
    trail = {naming.audit_trail_log_group(env)} if any_stack.settings.owns_artifact_store else set()
    assert (
        set(groups)
        == {f"/ecs/ds-preprocessing-{env}", f"/aws/vendedlogs/states/ds-preprocessing-pipeline-{env}"} | trail
    )
    assert all(group["retentionInDays"] == days for group in groups.values())


def test_ecr_scans_on_push_and_tags_are_immutable(any_stack: SynthResult) -> None:
    repository = any_stack.get("aws:ecr/repository:Repository", "image-repository").inputs
    assert repository["imageScanningConfiguration"] == {"scanOnPush": True}
    assert repository["imageTagMutability"] == "IMMUTABLE"
    lifecycle = any_stack.get("aws:ecr/lifecyclePolicy:LifecyclePolicy", "image-repository-lifecycle").inputs
    protect, expire = lifecycle["policy"]["rules"]
    # ECR: an image matched by a higher-priority rule's tag selection is never expired by a lower-priority rule.
    assert protect["rulePriority"] < expire["rulePriority"]
    assert protect["selection"]["tagStatus"] == "tagged" and protect["selection"]["tagPrefixList"] == ["keep-"]
    assert protect["selection"]["countNumber"] >= 9999
    assert expire["selection"] == {"tagStatus": "any", "countType": "imageCountMoreThan", "countNumber": 20}


def test_only_the_building_stack_builds_on_preview_from_job_for_amd64(dev_stack: SynthResult) -> None:
    (built,) = dev_stack.of_type("docker:index/image:Image")
    image = built.inputs
    # Relative to the project directory, so the synthesized stack is the same on every checkout.
    assert image["build"]["context"] == "job"
    assert image["build"]["dockerfile"] == "job/Dockerfile"
    assert image["build"]["platform"] == "linux/amd64"
    assert image["buildOnPreview"] is True  # a pull request's preview builds it (and never pushes)
    url = dev_stack.outputs["ecrRepositoryUrl"]
    assert url == f"{DEV}.dkr.ecr.us-east-1.amazonaws.com/ds-preprocessing"
    assert image["imageName"].startswith(f"{url}:src-")
    # the server only: the push uses the Docker client's login (deploy workflow), so no registry password is an
    # input, and none is kept in the state that every previewing credential can decrypt
    assert image["registry"] == {"server": f"https://{url.split('/')[0]}"}


def test_the_builder_replicates_its_repository_to_the_reader_accounts(dev_stack: SynthResult) -> None:
    (replication,) = dev_stack.of_type("aws:ecr/replicationConfiguration:ReplicationConfiguration")
    (rule,) = replication.inputs["replicationConfiguration"]["rules"]
    assert rule["destinations"] == [{"region": "us-east-1", "registryId": PROD}]
    assert rule["repositoryFilters"] == [{"filter": "ds-preprocessing", "filterType": "PREFIX_MATCH"}]
    assert not dev_stack.of_type("aws:ecr/registryPolicy:RegistryPolicy")


def test_a_pinned_stack_builds_nothing_and_runs_exactly_its_pin(prod_stack: SynthResult) -> None:
    pin = prod_stack.settings.image_digest
    assert pin and not prod_stack.of_type("docker:index/image:Image")
    assert not prod_stack.of_type("aws:ecr/replicationConfiguration:ReplicationConfiguration")
    (container,) = prod_stack.get(TASK_DEFINITION, "task-definition").inputs["containerDefinitions"]
    assert container["image"] == f"{PROD}.dkr.ecr.us-east-1.amazonaws.com/ds-preprocessing@{pin}"
    (policy,) = prod_stack.of_type("aws:ecr/registryPolicy:RegistryPolicy")
    (grant,) = policy.inputs["policy"]["Statement"]
    assert grant["Principal"] == {"AWS": f"arn:aws:iam::{DEV}:root"} and grant["Action"] == ["ecr:ReplicateImage"]
    assert grant["Resource"] == [f"arn:aws:ecr:us-east-1:{PROD}:repository/ds-preprocessing"]


def test_the_task_tells_the_job_its_image_digest(any_stack: SynthResult) -> None:
    (container,) = any_stack.get(TASK_DEFINITION, "task-definition").inputs["containerDefinitions"]
    environment = {item["name"]: item["value"] for item in container["environment"]}
    assert container["image"].endswith("@" + environment["DS_IMAGE_DIGEST"])
    assert re.fullmatch(r"sha256:[0-9a-f]{64}", environment["DS_IMAGE_DIGEST"])


def test_task_runs_the_job_non_root_read_only_by_digest(any_stack: SynthResult) -> None:
    task = any_stack.get(TASK_DEFINITION, "task-definition").inputs
    settings = any_stack.settings
    assert (task["cpu"], task["memory"]) == (str(settings.task_cpu), str(settings.task_memory))
    assert task["requiresCompatibilities"] == ["FARGATE"] and task["networkMode"] == "awsvpc"
    assert task["family"] == "ds-preprocessing"
    (container,) = task["containerDefinitions"]
    assert container["image"] == any_stack.outputs["imageDigest"] and "@sha256:" in container["image"]
    assert container["user"] == JOB_USER and not container["user"].startswith("0")
    assert container["readonlyRootFilesystem"] is True
    assert container["entryPoint"] == ["python", "-m", "job"] and container["command"] == ["run"]
    environment = {item["name"]: item["value"] for item in container["environment"]}
    assert environment["DS_PARAMETER_PREFIX"] == "/ds/preprocessing"
    assert environment["DS_ENVIRONMENT"] == settings.environment
    assert environment["AWS_REGION"] == environment["AWS_DEFAULT_REGION"] == "us-east-1"
    assert container["mountPoints"] == [{"sourceVolume": "scratch", "containerPath": "/tmp", "readOnly": False}]
    assert container["logConfiguration"]["options"]["awslogs-group"] == any_stack.outputs["logGroupName"]
    assert task["taskRoleArn"] == any_stack.outputs["taskRoleArn"]
    assert task["executionRoleArn"] == any_stack.outputs["executionRoleArn"]


# "Amazon ECS task definition differences for Fargate": parameters not valid in Fargate tasks at all, and the
# Linux parameters Fargate does not support (it can only add the SYS_PTRACE capability).
FARGATE_INVALID_CONTAINER_KEYS = {
    "disableNetworking",
    "dnsSearchDomains",
    "dnsServers",
    "dockerSecurityOptions",
    "extraHosts",
    "links",
    "privileged",
}
FARGATE_INVALID_LINUX_PARAMETERS = {"devices", "sharedMemorySize", "tmpfs", "maxSwap", "swappiness"}


def test_container_uses_only_parameters_fargate_accepts(any_stack: SynthResult) -> None:
    task = any_stack.get(TASK_DEFINITION, "task-definition").inputs
    assert task["requiresCompatibilities"] == ["FARGATE"]
    assert "placementConstraints" not in task and "ipcMode" not in task
    for container in task["containerDefinitions"]:
        assert not FARGATE_INVALID_CONTAINER_KEYS & set(container), container["name"]
        linux = container.get("linuxParameters", {})
        assert not FARGATE_INVALID_LINUX_PARAMETERS & set(linux)
        assert set(linux.get("capabilities", {}).get("add", [])) <= {"SYS_PTRACE"}
        assert linux["capabilities"]["drop"] == ["ALL"]
        assert not any(r.get("type") == "GPU" for r in container.get("resourceRequirements", []))


def test_security_group_allows_only_https_out(any_stack: SynthResult) -> None:
    group = any_stack.get("aws:ec2/securityGroup:SecurityGroup", "task-sg").inputs
    assert not group.get("ingress")
    (egress,) = group["egress"]
    assert (egress["protocol"], egress["fromPort"], egress["toPort"]) == ("tcp", 443, 443)


def test_cluster_has_container_insights(any_stack: SynthResult) -> None:
    cluster = any_stack.get("aws:ecs/cluster:Cluster", "task-cluster")
    assert cluster.inputs["name"] == "ds-processing-cluster"
    assert cluster.inputs["settings"] == [{"name": "containerInsights", "value": "enabled"}]


# ----------------------------------------------------------------------------- state machine, schedule, alarms


def test_state_machine_runs_the_task_with_retries_catch_and_timeout(any_stack: SynthResult) -> None:
    machine = any_stack.get(STATE_MACHINE, "pipeline-state-machine").inputs
    assert machine["name"] == "ds-preprocessing-pipeline" and machine["type"] == "STANDARD"
    definition = machine["definition"]
    timeout = any_stack.settings.task_timeout_minutes * 60
    run = definition["States"]["RunPreprocessingJob"]
    assert run["Resource"] == "arn:aws:states:::ecs:runTask.sync"
    assert run["TimeoutSeconds"] == timeout
    # The execution outlives every attempt at its full task timeout plus the retry waits, so a timed-out task still
    # reaches Catch -> NotifyFailure instead of the execution timing out first.
    job_retry = next(r for r in run["Retry"] if r["ErrorEquals"] == ["States.TaskFailed"])
    start_retry = next(r for r in run["Retry"] if "ECS.AmazonECSException" in r["ErrorEquals"])
    attempts = 1 + job_retry["MaxAttempts"]

    def waits(retry: dict[str, Any]) -> float:
        return sum(retry["IntervalSeconds"] * retry["BackoffRate"] ** n for n in range(retry["MaxAttempts"]))

    # On the scale-out path (plan, batches, commit: three such stages one after another) too.
    stage = attempts * timeout + waits(job_retry) + attempts * waits(start_retry)
    assert definition["TimeoutSeconds"] > 3 * stage
    assert definition["TimeoutSeconds"] <= 3 * (attempts * timeout + 3600)  # still a bound, not open-ended
    params = run["Parameters"]
    assert params["Cluster"] == any_stack.outputs["clusterArn"]
    assert params["TaskDefinition"] == any_stack.outputs["taskDefinitionArn"]
    network = params["NetworkConfiguration"]["AwsvpcConfiguration"]
    assert network["Subnets"] == any_stack.outputs["subnetIds"]
    assert network["SecurityGroups"] == [any_stack.outputs["securityGroupId"]]
    overrides = {e["Name"]: e for e in params["Overrides"]["ContainerOverrides"][0]["Environment"]}
    assert overrides["DS_RUN_ID"]["Value.$"] == "$$.Execution.Name"
    assert "DS_INPUT_KEY" in overrides
    assert all(retry["BackoffRate"] > 1 and retry["MaxAttempts"] >= 1 for retry in run["Retry"])
    (catch,) = run["Catch"]
    assert catch["ErrorEquals"] == ["States.ALL"]
    notify = definition["States"][catch["Next"]]
    assert notify["Resource"] == "arn:aws:states:::sns:publish"
    assert notify["Parameters"]["TopicArn"] == any_stack.outputs["alarmTopicArn"]
    assert definition["States"][notify["Next"]]["Type"] == "Fail"
    logging = machine["loggingConfiguration"]
    group = any_stack.outputs["stateMachineLogGroupName"]
    group_arn = f"arn:aws:logs:us-east-1:{any_stack.settings.account_id}:log-group:{group}"
    assert logging["logDestination"] == f"{group_arn}:*" and logging["level"] in {"ERROR", "ALL"}


def test_schedule_only_where_enabled(dev_stack: SynthResult, prod_stack: SynthResult) -> None:
    def schedules(stack: SynthResult) -> list[Any]:
        return [r for r in stack.of_type("aws:cloudwatch/eventRule:EventRule") if "scheduleExpression" in r.inputs]

    assert not schedules(dev_stack)
    assert not [r for r in dev_stack.of_type("aws:cloudwatch/eventTarget:EventTarget") if "roleArn" in r.inputs]
    assert dev_stack.outputs["scheduleRuleName"] is None
    (rule,) = schedules(prod_stack)
    assert rule.inputs["scheduleExpression"] == "cron(0 6 1 * ? *)" and rule.inputs["state"] == "ENABLED"
    # The schedule's one target (the stack's alert rules have targets of their own: the alarm topic).
    (target,) = [t for t in prod_stack.of_type("aws:cloudwatch/eventTarget:EventTarget") if t.inputs["rule"] == rule.id]
    assert target.inputs["arn"] == prod_stack.outputs["stateMachineArn"]
    schedule_role = prod_stack.get(ROLE, "pipeline-schedule-role")
    assert target.inputs["roleArn"] == f"arn:aws:iam::{PROD}:role/{schedule_role.id}"
    (policy,) = role_policies(prod_stack, str(schedule_role.id)).values()
    (start,) = statements(policy)
    assert start["Action"] == ["states:StartExecution"] and start["Resource"] == [prod_stack.outputs["stateMachineArn"]]


def test_failed_executions_alarm_notifies_the_topic(any_stack: SynthResult) -> None:
    alarm = any_stack.get("aws:cloudwatch/metricAlarm:MetricAlarm", "pipeline-failed-executions").inputs
    assert alarm["alarmActions"] == [any_stack.outputs["alarmTopicArn"]]
    metrics = {q["metric"]["metricName"]: q["metric"] for q in alarm["metricQueries"] if "metric" in q}
    assert "ExecutionsFailed" in metrics
    assert metrics["ExecutionsFailed"]["dimensions"] == {"StateMachineArn": any_stack.outputs["stateMachineArn"]}


def test_drift_alarm_fires_on_any_drifted_feature(any_stack: SynthResult) -> None:
    env = any_stack.outputs["environment"]
    alarm = any_stack.get("aws:cloudwatch/metricAlarm:MetricAlarm", "pipeline-drifted-features").inputs
    assert alarm["name"] == f"ds-preprocessing-drifted-features-{env}"
    assert alarm["alarmActions"] == [any_stack.outputs["alarmTopicArn"]]
    assert (alarm["comparisonOperator"], alarm["threshold"]) == ("GreaterThanThreshold", 0)
    assert alarm["treatMissingData"] == "notBreaching"  # no run (or a model without a baseline): no alarm
    (metric,) = [q["metric"] for q in alarm["metricQueries"] if "metric" in q]
    assert metric["metricName"] == "DriftedFeatures" and metric["dimensions"] == {"Environment": env}
    (value,) = [q for q in alarm["metricQueries"] if q.get("returnData")]
    assert value["expression"] == "drifted"


def test_job_metric_alarms_watch_what_the_job_sends(any_stack: SynthResult) -> None:
    """Every alarm on the job's namespace names a metric and dimensions the job really sends (job/metrics.py)."""
    env = any_stack.outputs["environment"]
    drift = {"available": True, "max_psi": 0.5, "drifted_features": ["amount"], "features": {}}
    sent = {
        (datum["MetricName"], frozenset((d["Name"], d["Value"]) for d in datum["Dimensions"]))
        for datum in job_metrics.run_metrics(env, 1.0, 10, 9, 1, drift)
    }
    watched = [
        (query["metric"]["metricName"], frozenset(query["metric"]["dimensions"].items()))
        for alarm in any_stack.of_type("aws:cloudwatch/metricAlarm:MetricAlarm")
        for query in alarm.inputs.get("metricQueries", [])
        if query.get("metric", {}).get("namespace") == job_metrics.NAMESPACE
    ]
    assert {name for name, _ in watched} == {"RowsRejected", "RowsIn", "DriftedFeatures"}
    assert set(watched) <= sent


def test_alarm_email_subscribes_in_every_stack_that_configures_it(any_stack: SynthResult) -> None:
    (subscription,) = any_stack.of_type("aws:sns/topicSubscription:TopicSubscription")
    assert subscription.inputs["protocol"] == "email"
    assert any_stack.settings.alarm_email and subscription.inputs["endpoint"] == any_stack.settings.alarm_email
    assert subscription.inputs["topic"] == any_stack.outputs["alarmTopicArn"]


# ----------------------------------------------------------------------------- parameters


def test_parameters_hold_the_stack_values(dev_stack: SynthResult, prod_stack: SynthResult) -> None:
    for stack, artifact_bucket in (
        (dev_stack, f"ds-artifacts-dev-{DEV}-us-east-1"),
        (prod_stack, f"ds-artifacts-dev-{DEV}-us-east-1"),
    ):
        params = {r.inputs["name"]: r for r in stack.of_type(PARAMETER)}
        assert set(params) == {f"/ds/preprocessing/{key}" for key in naming.PARAMETER_KEYS}
        assert params["/ds/preprocessing/input-bucket"].inputs["value"] == stack.outputs["inputBucketName"]
        assert params["/ds/preprocessing/output-bucket"].inputs["value"] == stack.outputs["outputBucketName"]
        # prod's value comes through the StackReference to dev's synthesized outputs.
        assert params["/ds/preprocessing/artifact-bucket"].inputs["value"] == artifact_bucket
        assert params["/ds/preprocessing/input-key"].inputs["value"] == "raw/monthly_data.csv"
        assert all(p.id == name and p.inputs["type"] == "String" for name, p in params.items())


def test_promoted_parameters_start_empty_and_are_never_reverted(any_stack: SynthResult) -> None:
    ignored = set()
    for resource in any_stack.of_type(PARAMETER):
        key = resource.inputs["name"].rsplit("/", 1)[1]
        if key in naming.PROMOTED_PARAMETER_KEYS:
            assert resource.inputs["value"] == "NONE"
        if key in (*naming.PROMOTED_PARAMETER_KEYS, "artifact-bucket"):  # artifact-bucket: `dsctl model failover`
            assert resource.ignore_changes == ("value",)
            ignored.add(key)
        else:
            assert resource.ignore_changes == ()
    assert ignored == {"model-key", "model-sha256", "artifact-bucket"}


# ----------------------------------------------------------------------------- IAM


def test_roles_have_fixed_names_and_service_trust_for_this_account(any_stack: SynthResult) -> None:
    env, account = any_stack.settings.environment, any_stack.settings.account_id
    services = {
        f"ds-preprocessing-task-{env}": "ecs-tasks.amazonaws.com",
        f"ds-preprocessing-exec-{env}": "ecs-tasks.amazonaws.com",
        f"ds-preprocessing-sfn-{env}": "states.amazonaws.com",
    }
    roles = {r.id: r.inputs for r in any_stack.of_type(ROLE)}
    for name, service in services.items():
        (trust,) = statements(roles[name]["assumeRolePolicy"])
        assert trust["Principal"] == {"Service": service}
        assert trust["Condition"] == {"StringEquals": {"aws:SourceAccount": account}}


def test_no_allow_names_a_wildcard_action_or_an_unneeded_wildcard_resource(any_stack: SynthResult) -> None:
    for resource in any_stack.of_type(ROLE_POLICY):
        for statement in statements(resource.inputs["policy"]):
            actions = as_list(statement["Action"])
            assert statement["Effect"] == "Allow"
            assert not any(action == "*" or action.endswith(":*") for action in actions), resource.name
            if "*" in as_list(statement["Resource"]):
                assert set(actions) <= set(STAR_ONLY_ACTIONS), (resource.name, statement["Sid"])


def test_put_metric_data_is_limited_to_the_pipeline_namespace(any_stack: SynthResult) -> None:
    task_policy = role_policies(any_stack, f"ds-preprocessing-task-{any_stack.settings.environment}")["run-job"]
    (metrics,) = [s for s in statements(task_policy) if "cloudwatch:PutMetricData" in s["Action"]]
    assert metrics["Condition"] == {"StringEquals": {"cloudwatch:namespace": "DS/Pipeline"}}


def test_task_role_reads_only_models_of_the_store_through_s3(any_stack: SynthResult) -> None:
    env = any_stack.settings.environment
    policy = role_policies(any_stack, f"ds-preprocessing-task-{env}")["read-models"]
    bucket_arn = f"arn:aws:s3:::ds-artifacts-dev-{DEV}-us-east-1"
    by_sid = {s["Sid"]: s for s in statements(policy)}
    assert by_sid["GetModels"]["Resource"] == [f"{bucket_arn}/models/*"]
    assert by_sid["ListModels"]["Condition"] == {"StringLike": {"s3:prefix": ["models/*"]}}
    decrypt = by_sid["DecryptModelsThroughS3"]
    # In prod this is dev's key ARN, resolved through the StackReference.
    dev_key = any_stack.outputs["artifactKmsKeyArn"]
    assert dev_key.startswith(f"arn:aws:kms:us-east-1:{DEV}:key/")
    assert decrypt["Resource"] == [dev_key]
    assert decrypt["Condition"] == {"StringEquals": {"kms:ViaService": "s3.us-east-1.amazonaws.com"}}


def test_prod_sees_devs_real_store_outputs(dev_stack: SynthResult, prod_stack: SynthResult) -> None:
    for key in ("artifactBucketName", "artifactBucketArn", "artifactKmsKeyArn", "artifactAccountId"):
        assert prod_stack.outputs[key] == dev_stack.outputs[key]


def test_physical_ids_are_what_aws_reports(any_stack: SynthResult) -> None:
    account = any_stack.settings.account_id

    def one(token: str, name: str) -> SynthResource:
        return any_stack.get(token, name)

    assert one(ROLE, "task-role").id == f"ds-preprocessing-task-{any_stack.settings.environment}"
    assert any_stack.outputs["taskRoleArn"] == f"arn:aws:iam::{account}:role/ds-preprocessing-task-{any_stack.stack}"
    assert (
        any_stack.outputs["taskDefinitionArn"] == f"arn:aws:ecs:us-east-1:{account}:task-definition/ds-preprocessing:1"
    )
    assert any_stack.outputs["stateMachineArn"] == (
        f"arn:aws:states:us-east-1:{account}:stateMachine:ds-preprocessing-pipeline"
    )
    assert one(PARAMETER, "pipeline-param-model-key").id == "/ds/preprocessing/model-key"


def test_workload_roles_carry_the_boundary_and_it_grants_nothing_more(any_stack: SynthResult) -> None:
    boundary = any_stack.get("aws:iam/policy:Policy", "task-role-boundary")
    env, account = any_stack.settings.environment, any_stack.settings.account_id
    assert boundary.id == f"arn:aws:iam::{account}:policy/ds-preprocessing-boundary-{env}"
    others = (
        naming.deploy_role(env),
        naming.preview_role(env),
        naming.operator_role(),
        naming.promoter_role(),
        naming.audit_trail_role(env),
        naming.store_replication_role(env),
    )
    workload = [r for r in any_stack.of_type(ROLE) if r.id not in others]
    assert len(workload) == (4 if any_stack.settings.schedule_enabled else 3)
    assert all(role.inputs["permissionsBoundary"] == boundary.id for role in workload)
    # The boundary is exactly the union of the workload roles' inline statements.
    granted = [
        statement
        for resource in any_stack.of_type(ROLE_POLICY)
        if resource.inputs["role"] not in others
        for statement in statements(resource.inputs["policy"])
    ]
    boundary_statements = statements(boundary.inputs["policy"])
    assert {s["Sid"] for s in granted} <= {s["Sid"] for s in boundary_statements}
    by_sid = {s["Sid"]: s for s in boundary_statements}
    assert all(by_sid[s["Sid"]] == s for s in granted)


# ----------------------------------------------------------------------------- operator role


def test_operator_role_trusts_the_permission_sets_sso_roles_by_pattern(any_stack: SynthResult) -> None:
    """Any suffix (re-provisioning changes it) and any region path segment, in the stack's own account only."""
    role = any_stack.get(ROLE, "operator-role")
    account = any_stack.settings.account_id
    assert role.id == naming.operator_role() == "ds-preprocessing-operator"
    assert any_stack.settings.operator_permission_set == "DataScience"
    (trust,) = statements(role.inputs["assumeRolePolicy"])
    sso = f"arn:aws:iam::{account}:role/aws-reserved/sso.amazonaws.com"
    assert trust == {
        "Sid": "OperatorPermissionSetAssumes",
        "Effect": "Allow",
        "Principal": {"AWS": f"arn:aws:iam::{account}:root"},
        "Action": ["sts:AssumeRole", "sts:SetSourceIdentity"],  # dsctl names the person (sts:SourceIdentity)
        "Condition": {
            "ArnLike": {
                "aws:PrincipalArn": [f"{sso}/AWSReservedSSO_DataScience_*", f"{sso}/*/AWSReservedSSO_DataScience_*"]
            }
        },
    }
    assert role.inputs["maxSessionDuration"] == 3600


def test_operator_role_carries_its_own_boundary_which_is_exactly_its_policy(any_stack: SynthResult) -> None:
    env, account = any_stack.settings.environment, any_stack.settings.account_id
    role = any_stack.get(ROLE, "operator-role")
    boundary = any_stack.get("aws:iam/policy:Policy", "operator-boundary")
    assert boundary.id == f"arn:aws:iam::{account}:policy/ds-preprocessing-operator-boundary-{env}"
    assert role.inputs["permissionsBoundary"] == boundary.id
    assert role_policies(any_stack, naming.operator_role()) == {"operate-pipeline": boundary.inputs["policy"]}
    assert boundary.parent == role.parent  # one component: the role, its policy and its boundary


def test_operator_writes_parameters_only_for_promotions(any_stack: SynthResult) -> None:
    """The promoting role (the promoter in a production stack, else the operator) writes the model parameters and
    dsctl's record and, in a stack reading another's store, artifact-bucket (``dsctl model failover``), nothing
    else; in a production stack the operator writes no parameter at all."""
    account = any_stack.settings.account_id
    promoting = any_stack.settings.promoting_role
    assert promoting == (naming.promoter_role() if any_stack.settings.production else naming.operator_role())
    for role in (naming.operator_role(), naming.promoter_role()):
        policies = role_policies(any_stack, role)
        writes = [s for p in policies.values() for s in statements(p) if "ssm:PutParameter" in s["Action"]]
        if role != promoting:
            assert writes == [], role
            continue
        parameter = f"arn:aws:ssm:us-east-1:{account}:parameter/ds/preprocessing/"
        failover = (
            [] if any_stack.settings.owns_artifact_store else [(["ssm:PutParameter"], [f"{parameter}artifact-bucket"])]
        )
        assert [(s["Action"], sorted(s["Resource"])) for s in writes] == [
            (
                ["ssm:LabelParameterVersion", "ssm:PutParameter"],
                [f"{parameter}{key}" for key in ("dsctl/promotion", "model-key", "model-sha256")],
            ),
            *failover,
        ]


def test_promoter_role_exists_in_production_only_trusted_by_its_own_permission_set(any_stack: SynthResult) -> None:
    settings = any_stack.settings
    if not settings.production:
        assert not any_stack.of_type("ds:access:PromoterRole") and any_stack.outputs["promoterRoleArn"] is None
        return
    role = any_stack.get(ROLE, "promoter-role")
    boundary = any_stack.get("aws:iam/policy:Policy", "promoter-boundary")
    assert role.inputs["permissionsBoundary"] == boundary.id
    assert role_policies(any_stack, naming.promoter_role()) == {"promote-models": boundary.inputs["policy"]}
    (trust,) = statements(role.inputs["assumeRolePolicy"])
    sso = f"arn:aws:iam::{settings.account_id}:role/aws-reserved/sso.amazonaws.com"
    assert settings.promoter_permission_set == "ModelApprovers" != settings.operator_permission_set
    assert trust["Condition"]["ArnLike"]["aws:PrincipalArn"] == [
        f"{sso}/AWSReservedSSO_ModelApprovers_*",
        f"{sso}/*/AWSReservedSSO_ModelApprovers_*",
    ]
    assert trust["Action"] == ["sts:AssumeRole", "sts:SetSourceIdentity"]


def test_operator_publishes_models_only_in_the_owning_stack(dev_stack: SynthResult, prod_stack: SynthResult) -> None:
    def store_actions(stack: SynthResult) -> set[str]:
        (policy,) = role_policies(stack, naming.operator_role()).values()
        store = stack.outputs["artifactBucketArn"]
        return {
            action
            for s in statements(policy)
            if any(str(r).startswith(store) for r in as_list(s["Resource"]))
            for action in s["Action"]
        }

    assert store_actions(dev_stack) == {"s3:GetObject", "s3:PutObject", "s3:ListBucket"}
    assert store_actions(prod_stack) == {"s3:GetObject", "s3:ListBucket"}
