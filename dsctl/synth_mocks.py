"""Pulumi mocks that answer like AWS would, so a synthesized stack shows real names and ARNs.

Each resource gets the id and ARN the real provider would report (a bucket's id is
its name, a role's id its name, an SSM parameter's id its name, a cluster's id its
ARN, ...). References between resources therefore carry real-looking values, and
IAM linters that compare ARNs with actions see what AWS would produce. Generated
parts (KMS key ids, security group ids, image digests) are derived from a hash of
the account and resource name, so every synth of the same config gives the same JSON.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import pulumi
from pulumi.runtime import MockCallArgs, MockResourceArgs, Mocks
from pulumi.runtime.mocks import MockMonitor

from components import tokens

SECRET_SIG_KEY = "4dabf18193072939515e22adb298388d"
SECRET_SIG_VALUE = "1b47061264138c4ac30d75fd1eb44270"
STACK_REFERENCE = tokens.STACK_REFERENCE


def unwrap_secrets(value: Any) -> Any:
    """Replace Pulumi's wire-form secret envelopes with the values they hold, recursively."""
    if isinstance(value, dict):
        if value.get(SECRET_SIG_KEY) == SECRET_SIG_VALUE:
            return unwrap_secrets(value.get("value"))
        return {key: unwrap_secrets(item) for key, item in value.items()}
    if isinstance(value, list):
        return [unwrap_secrets(item) for item in value]
    return value


def _digest(*parts: str) -> str:
    return hashlib.sha256("\0".join(parts).encode()).hexdigest()


def _uuid(*parts: str) -> str:
    h = _digest(*parts)
    return f"{h[:8]}-{h[8:12]}-4{h[13:16]}-a{h[17:20]}-{h[20:32]}"


@dataclass
class AwsMocks(Mocks):
    """Mocks for one stack: resources are created in ``account_id``/``region``.

    ``stack_outputs`` maps a stack reference name (``org/project/stack``) to that stack's
    outputs, so a StackReference resolves to another synthesized stack.
    """

    account_id: str
    region: str
    stack_outputs: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    registry_digests: tuple[str, ...] = ()
    """Digests the account's ``ds-preprocessing`` repository holds (a pinned stack's lookup answers with these)."""

    # ------------------------------------------------------------------ helpers
    def _arn(
        self, service: str, resource: str, *, regional: bool = True, account: bool = True, region: str | None = None
    ) -> str:
        region = (region or self.region) if regional else ""
        acct = self.account_id if account else ""
        return f"arn:aws:{service}:{region}:{acct}:{resource}"

    def _physical_name(self, args: MockResourceArgs, key: str = "name") -> str:
        """The explicit physical name, else a Pulumi-style auto-name (logical name + 7 hex)."""
        value = args.inputs.get(key)
        if isinstance(value, str) and value:
            return value
        return f"{args.name}-{_digest(self.account_id, args.typ, args.name)[:7]}"

    # ------------------------------------------------------------------ resources
    def new_resource(self, args: MockResourceArgs) -> tuple[str | None, dict]:
        """Return the id and output state AWS would report for this resource."""
        if args.typ == STACK_REFERENCE:
            return self._stack_reference(args)
        handler = _RESOURCE_HANDLERS.get(args.typ)
        if handler is None:
            # Components and resources without a special rule: inputs echoed, id from the name.
            if not args.custom:
                return None, dict(args.inputs)
            return f"{args.name}-{_digest(self.account_id, args.typ, args.name)[:8]}", dict(args.inputs)
        resource_id, computed = handler(self, args)
        return resource_id, {**args.inputs, **computed}

    def _stack_reference(self, args: MockResourceArgs) -> tuple[str, dict]:
        name = args.resource_id or args.inputs.get("name") or args.name
        if name not in self.stack_outputs:
            known = ", ".join(sorted(self.stack_outputs)) or "none"
            raise ValueError(f"stack reference {name!r} is not a stack synthesized here (known: {known})")
        return name, {"name": name, "outputs": dict(self.stack_outputs[name]), "secretOutputNames": []}

    def bucket(self, args: MockResourceArgs) -> tuple[str, dict]:
        name = self._physical_name(args, "bucket")
        return name, {
            "bucket": name,
            "arn": f"arn:aws:s3:::{name}",
            "bucketDomainName": f"{name}.s3.amazonaws.com",
            "bucketRegionalDomainName": f"{name}.s3.{args.inputs.get('region') or self.region}.amazonaws.com",
            "region": args.inputs.get("region") or self.region,
        }

    def bucket_child(self, args: MockResourceArgs) -> tuple[str, dict]:
        return str(args.inputs["bucket"]), {}

    def kms_key(self, args: MockResourceArgs) -> tuple[str, dict]:
        key_id = _uuid(self.account_id, "kms", args.name)
        # A resource placed in another region (pulumi-aws 7's per-resource ``region``, the store's replica) says so.
        return key_id, {"keyId": key_id, "arn": self._arn("kms", f"key/{key_id}", region=args.inputs.get("region"))}

    def kms_alias(self, args: MockResourceArgs) -> tuple[str, dict]:
        name = self._physical_name(args)
        region = args.inputs.get("region")
        return name, {
            "arn": self._arn("kms", name, region=region),
            "targetKeyArn": self._arn("kms", f"key/{args.inputs['targetKeyId']}", region=region),
        }

    def role(self, args: MockResourceArgs) -> tuple[str, dict]:
        name = self._physical_name(args)
        path = args.inputs.get("path") or "/"
        unique = "AROA" + _digest(self.account_id, "role", name)[:17].upper()
        return name, {"name": name, "arn": f"arn:aws:iam::{self.account_id}:role{path}{name}", "uniqueId": unique}

    def role_policy(self, args: MockResourceArgs) -> tuple[str, dict]:
        name = self._physical_name(args)
        return f"{args.inputs['role']}:{name}", {"name": name}

    def managed_policy(self, args: MockResourceArgs) -> tuple[str, dict]:
        name = self._physical_name(args)
        path = args.inputs.get("path") or "/"
        arn = f"arn:aws:iam::{self.account_id}:policy{path}{name}"
        return arn, {"name": name, "arn": arn, "policyId": "ANPA" + _digest(self.account_id, name)[:17].upper()}

    def policy_attachment(self, args: MockResourceArgs) -> tuple[str, dict]:
        return f"{args.inputs['role']}-{_digest(str(args.inputs.get('policyArn')))[:8]}", {}

    def ecr_repository(self, args: MockResourceArgs) -> tuple[str, dict]:
        name = self._physical_name(args)
        url = f"{self.account_id}.dkr.ecr.{self.region}.amazonaws.com/{name}"
        return name, {
            "arn": self._arn("ecr", f"repository/{name}"),
            "registryId": self.account_id,
            "repositoryUrl": url,
        }

    def ecr_child(self, args: MockResourceArgs) -> tuple[str, dict]:
        return str(args.inputs["repository"]), {"registryId": self.account_id}

    def docker_image(self, args: MockResourceArgs) -> tuple[str, dict]:
        image_name = str(args.inputs.get("imageName", args.name))
        repository = image_name.rsplit(":", 1)[0] if ":" in image_name.rsplit("/", 1)[-1] else image_name
        digest = f"{repository}@sha256:{_digest(self.account_id, 'image', image_name)}"
        return digest, {"repoDigest": digest, "imageName": image_name, "baseImageName": image_name}

    def ecs_cluster(self, args: MockResourceArgs) -> tuple[str, dict]:
        arn = self._arn("ecs", f"cluster/{self._physical_name(args)}")
        return arn, {"arn": arn}

    def task_definition(self, args: MockResourceArgs) -> tuple[str, dict]:
        family = str(args.inputs["family"])
        base = self._arn("ecs", f"task-definition/{family}")
        return family, {"arn": f"{base}:1", "arnWithoutRevision": base, "revision": 1}

    def log_group(self, args: MockResourceArgs) -> tuple[str, dict]:
        name = self._physical_name(args)
        return name, {"arn": self._arn("logs", f"log-group:{name}")}

    def security_group(self, args: MockResourceArgs) -> tuple[str, dict]:
        group_id = "sg-" + _digest(self.account_id, "sg", args.name)[:17]
        return group_id, {"arn": self._arn("ec2", f"security-group/{group_id}"), "ownerId": self.account_id}

    def state_machine(self, args: MockResourceArgs) -> tuple[str, dict]:
        arn = self._arn("states", f"stateMachine:{self._physical_name(args)}")
        return arn, {"arn": arn, "status": "ACTIVE"}

    def event_rule(self, args: MockResourceArgs) -> tuple[str, dict]:
        name = self._physical_name(args)
        return name, {"arn": self._arn("events", f"rule/{name}")}

    def event_target(self, args: MockResourceArgs) -> tuple[str, dict]:
        target_id = str(args.inputs.get("targetId") or args.name)
        return f"{args.inputs['rule']}-{target_id}", {"targetId": target_id}

    def ssm_parameter(self, args: MockResourceArgs) -> tuple[str, dict]:
        name = self._physical_name(args)
        return name, {"arn": self._arn("ssm", f"parameter/{name.lstrip('/')}"), "version": 1}

    def sns_topic(self, args: MockResourceArgs) -> tuple[str, dict]:
        arn = self._arn("sns", self._physical_name(args))
        return arn, {"arn": arn}

    def sns_subscription(self, args: MockResourceArgs) -> tuple[str, dict]:
        arn = f"{args.inputs['topic']}:{_uuid(self.account_id, 'sub', args.name)}"
        return arn, {"arn": arn}

    def metric_alarm(self, args: MockResourceArgs) -> tuple[str, dict]:
        name = self._physical_name(args)
        return name, {"arn": self._arn("cloudwatch", f"alarm:{name}")}

    def provider(self, args: MockResourceArgs) -> tuple[str, dict]:
        return _uuid(self.account_id, "provider", args.typ, args.name), {}

    # ------------------------------------------------------------------ invokes
    def call(self, args: MockCallArgs) -> tuple[dict, list[tuple[str, str]] | None]:
        """Answer the data-source invokes the program uses."""
        handler = _CALL_HANDLERS.get(args.token)
        if handler is None:
            raise NotImplementedError(f"synth mocks do not answer invoke {args.token}; add it to dsctl/synth_mocks.py")
        return handler(self, args), []

    def caller_identity(self, _: MockCallArgs) -> dict:
        return {
            "accountId": self.account_id,
            "arn": f"arn:aws:iam::{self.account_id}:user/synth",
            "userId": "AIDA" + _digest(self.account_id)[:17].upper(),
            "id": self.account_id,
        }

    def get_region(self, _: MockCallArgs) -> dict:
        return {
            "region": self.region,
            "name": self.region,
            "id": self.region,
            "description": self.region,
            "endpoint": f"ec2.{self.region}.amazonaws.com",
        }

    def get_partition(self, _: MockCallArgs) -> dict:
        return {"partition": "aws", "dnsSuffix": "amazonaws.com", "id": "aws", "reverseDnsPrefix": "com.amazonaws"}

    def ecr_token(self, _: MockCallArgs) -> dict:
        return {
            "authorizationToken": "QVdTOnN5bnRoLW9ubHk=",
            "userName": "AWS",
            "password": "synth-only",
            "proxyEndpoint": f"https://{self.account_id}.dkr.ecr.{self.region}.amazonaws.com",
            "expiresAt": "2030-01-01T00:00:00Z",
            "id": self.region,
        }

    def ecr_images(self, args: MockCallArgs) -> dict:
        repository = str(args.args.get("repositoryName"))
        ids = [{"imageDigest": digest, "imageTag": f"src-{digest[7:23]}"} for digest in self.registry_digests]
        return {"id": repository, "repositoryName": repository, "registryId": self.account_id, "imageIds": ids}

    def default_vpc(self, _: MockCallArgs) -> dict:
        vpc_id = "vpc-" + _digest(self.account_id, "vpc")[:17]
        return {
            "id": vpc_id,
            "arn": self._arn("ec2", f"vpc/{vpc_id}"),
            "default": True,
            "cidrBlock": "172.31.0.0/16",
            "ownerId": self.account_id,
        }

    def subnet(self, args: MockCallArgs) -> dict:
        subnet_id = str(args.args.get("id"))
        vpc_id = "vpc-" + _digest(self.account_id, "vpc", subnet_id)[:17]
        arn = self._arn("ec2", f"subnet/{subnet_id}")
        return {"id": subnet_id, "vpcId": vpc_id, "arn": arn, "ownerId": self.account_id}

    def subnets(self, _: MockCallArgs) -> dict:
        ids = ["subnet-" + _digest(self.account_id, "subnet", az)[:17] for az in ("a", "b", "c")]
        return {"id": self.region, "ids": ids}


_Handler = Callable[[AwsMocks, MockResourceArgs], tuple[str, dict]]
_RESOURCE_HANDLERS: dict[str, _Handler] = {
    tokens.BUCKET: AwsMocks.bucket,
    tokens.BUCKET_PUBLIC_ACCESS_BLOCK: AwsMocks.bucket_child,
    tokens.BUCKET_OWNERSHIP: AwsMocks.bucket_child,
    tokens.BUCKET_VERSIONING: AwsMocks.bucket_child,
    tokens.BUCKET_SSE: AwsMocks.bucket_child,
    tokens.BUCKET_LIFECYCLE: AwsMocks.bucket_child,
    tokens.BUCKET_POLICY: AwsMocks.bucket_child,
    tokens.KMS_KEY: AwsMocks.kms_key,
    tokens.KMS_ALIAS: AwsMocks.kms_alias,
    tokens.ROLE: AwsMocks.role,
    tokens.ROLE_POLICY: AwsMocks.role_policy,
    tokens.MANAGED_POLICY: AwsMocks.managed_policy,
    tokens.ROLE_POLICY_ATTACHMENT: AwsMocks.policy_attachment,
    tokens.ECR_REPOSITORY: AwsMocks.ecr_repository,
    tokens.ECR_LIFECYCLE_POLICY: AwsMocks.ecr_child,
    tokens.ECR_REPOSITORY_POLICY: AwsMocks.ecr_child,
    tokens.ECR_REGISTRY_POLICY: lambda self, args: (self.account_id, {"registryId": self.account_id}),
    tokens.ECR_REPLICATION: lambda self, args: (self.account_id, {"registryId": self.account_id}),
    tokens.DOCKER_IMAGE: AwsMocks.docker_image,
    tokens.CLUSTER: AwsMocks.ecs_cluster,
    tokens.TASK_DEFINITION: AwsMocks.task_definition,
    tokens.LOG_GROUP: AwsMocks.log_group,
    tokens.SECURITY_GROUP: AwsMocks.security_group,
    tokens.STATE_MACHINE: AwsMocks.state_machine,
    tokens.EVENT_RULE: AwsMocks.event_rule,
    tokens.EVENT_TARGET: AwsMocks.event_target,
    tokens.PARAMETER: AwsMocks.ssm_parameter,
    tokens.TOPIC: AwsMocks.sns_topic,
    tokens.TOPIC_SUBSCRIPTION: AwsMocks.sns_subscription,
    tokens.TOPIC_POLICY: lambda self, args: (str(args.inputs["arn"]), {}),
    tokens.METRIC_ALARM: AwsMocks.metric_alarm,
    tokens.TRAIL: lambda self, args: (
        self._arn("cloudtrail", f"trail/{args.inputs['name']}"),
        {"arn": self._arn("cloudtrail", f"trail/{args.inputs['name']}"), "homeRegion": self.region},
    ),
    tokens.ACCESS_ANALYZER: lambda self, args: (
        str(args.inputs["analyzerName"]),
        {"arn": self._arn("access-analyzer", f"analyzer/{args.inputs['analyzerName']}")},
    ),
    tokens.AWS_PROVIDER: AwsMocks.provider,
    tokens.DOCKER_PROVIDER: AwsMocks.provider,
}

_CALL_HANDLERS: dict[str, Callable[[AwsMocks, MockCallArgs], dict]] = {
    tokens.GET_CALLER_IDENTITY: AwsMocks.caller_identity,
    tokens.GET_REGION: AwsMocks.get_region,
    tokens.GET_PARTITION: AwsMocks.get_partition,
    tokens.GET_AUTHORIZATION_TOKEN: AwsMocks.ecr_token,
    tokens.GET_ECR_IMAGES: AwsMocks.ecr_images,
    tokens.GET_VPC: AwsMocks.default_vpc,
    tokens.GET_SUBNETS: AwsMocks.subnets,
    tokens.GET_SUBNET: AwsMocks.subnet,
}


@dataclass(frozen=True)
class Registration:
    """What the program asked the engine to create, with the options a reviewer cares about."""

    type: str
    name: str
    urn: str
    id: str | None
    parent: str | None
    custom: bool
    inputs: dict[str, Any]
    provider: str | None
    depends_on: tuple[str, ...]
    ignore_changes: tuple[str, ...]
    protect: bool
    read: bool = False


class RecordingMonitor(MockMonitor):
    """A MockMonitor that also records parent, provider, dependencies and ignore_changes, in creation order."""

    def __init__(self, mocks: Mocks) -> None:
        super().__init__(mocks)
        self.registrations: list[Registration] = []

    def RegisterResource(self, request: Any) -> Any:
        response = super().RegisterResource(request)
        if request.type != tokens.STACK:
            self._record(request, response.urn, response.id or None, read=False)
        return response

    def ReadResource(self, request: Any) -> Any:
        response = super().ReadResource(request)
        self._record(request, response.urn, request.id or None, read=True)
        return response

    def _record(self, request: Any, urn: str, resource_id: str | None, *, read: bool) -> None:
        registered = self.resources[urn]
        inputs = registered.state if read else pulumi.runtime.rpc.deserialize_properties(request.object)
        self.registrations.append(
            Registration(
                type=request.type,
                name=request.name,
                urn=urn,
                id=resource_id,
                parent=request.parent or None,
                custom=bool(getattr(request, "custom", True)),
                inputs=unwrap_secrets(inputs) if not read else {"name": inputs.get("name")},
                provider=request.provider or None,
                depends_on=tuple(sorted(getattr(request, "dependencies", ()) or ())),
                ignore_changes=tuple(getattr(request, "ignoreChanges", ()) or ()),
                protect=bool(getattr(request, "protect", False)),
                read=read,
            )
        )
