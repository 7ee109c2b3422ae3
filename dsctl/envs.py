"""Environments (from the stack files) and the credentials that act in them.

An environment is a Pulumi stack: its account, region, parameter prefix and artifact
store come from ``Pulumi.<env>.yaml`` through ``components.settings`` so there is no
second list to keep in sync. Credentials come from the standard AWS chain (``--profile``,
else the AWS profile named like the environment, else the environment variables),
optionally through an assumed role; every command then proves with STS that they belong
to the environment's account before touching anything, because an operator with the
wrong ``AWS_PROFILE`` exported is the classic way to promote a model into the wrong place.
"""

from __future__ import annotations

import argparse
import dataclasses
import functools
import getpass
import re
import weakref
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
import botocore.loaders
import botocore.session
from botocore.exceptions import BotoCoreError, ClientError, NoCredentialsError

from components import naming
from components.project import load_project, stack_names
from components.settings import PROJECT_DIR, SettingsError, StackSettings, load_stack_settings
from dsctl.output import EXIT_FAILED, CommandError

_ROLE_ARN = re.compile(r"arn:aws[a-z-]*:iam::\d{12}:role/[\w+=,.@/-]+")


@dataclass(frozen=True)
class Environment(StackSettings):
    """One deployment environment: its validated stack settings, with the artifact store known offline.

    It *is* the stack's ``StackSettings``, so every name and ARN dsctl uses comes from the code the Pulumi program
    names its resources with (``StackSettings`` and its ``StackArns``): dsctl targets exactly what the stack creates.
    """

    artifact_bucket: str
    """The store's bucket (optional in settings, where a store may be known only from outputs; required here)."""

    @classmethod
    def from_settings(cls, settings: StackSettings) -> Environment:
        """Build from validated stack settings; the store must be known offline (through ``promotesFrom``)."""
        bucket, account = settings.artifact_bucket_name, settings.artifact_account_id
        if not bucket or not account:
            raise CommandError(
                f"Pulumi.{settings.stack}.yaml: the artifact store's bucket/account is not known offline; "
                "set promotesFrom to a stack of this project or set artifactSourceBucket/AccountId"
            )
        values = {field.name: getattr(settings, field.name) for field in dataclasses.fields(settings)}
        return cls(**values, artifact_bucket=bucket)

    @property
    def name(self) -> str:
        return self.stack

    @property
    def input_bucket(self) -> str:
        return self.input_bucket_name

    @property
    def output_bucket(self) -> str:
        return self.output_bucket_name

    @property
    def state_machine_arn(self) -> str:
        return self.arns.state_machine

    @property
    def operator_role_arn(self) -> str:
        """The role humans are expected to assume in this account (suggested in fixes)."""
        return self.arns.operator_role


_CLIENTS: weakref.WeakKeyDictionary[boto3.Session, dict[str, Any]] = weakref.WeakKeyDictionary()


def client(session: boto3.Session, service: str) -> Any:
    """One client per session and service: creating a botocore client costs far more than most calls we make."""
    clients = _CLIENTS.setdefault(session, {})
    if service not in clients:
        clients[service] = session.client(service)  # type: ignore[call-overload]
    return clients[service]


def environment_names(project_dir: Path = PROJECT_DIR) -> list[str]:
    """Every environment: the stacks that have a ``Pulumi.<name>.yaml`` file, sorted."""
    return stack_names(project_dir)


def load_environment(name: str, project_dir: Path = PROJECT_DIR) -> Environment:
    """The environment ``name`` from its stack file; a bad or missing file is a one-line usage error."""
    known = environment_names(project_dir)
    if name not in known:
        raise CommandError(f"unknown environment {name!r}; use one of {', '.join(known)} (the Pulumi.<env>.yaml files)")
    try:
        return Environment.from_settings(load_stack_settings(name, project_dir=project_dir))
    except SettingsError as err:
        problems = "; ".join(err.errors)
        raise CommandError(f"Pulumi.{name}.yaml is invalid: {problems}") from err


def all_environments(project_dir: Path = PROJECT_DIR) -> list[Environment]:
    """Every environment of the project, in name order."""
    return [load_environment(name, project_dir) for name in environment_names(project_dir)]


def store_replica(env: Environment, project_dir: Path = PROJECT_DIR) -> tuple[str, str] | None:
    """(bucket, region) of the replica of ``env``'s store, when its owning stack declares ``artifactReplicaRegion``."""
    try:
        owner = env if env.owns_artifact_store else load_project(project_dir).store_owner(env)
    except SettingsError:
        return None
    if owner is None or not owner.artifact_replica_region:
        return None
    region = owner.artifact_replica_region
    return naming.artifact_replica_bucket(owner.environment, owner.account_id, region), region


def store_owner(env: Environment, project_dir: Path = PROJECT_DIR) -> str:
    """The environment whose stack creates ``env``'s artifact store (``env`` itself, or the one owning that bucket)."""
    if env.owns_artifact_store:
        return env.name
    try:
        owner = load_project(project_dir).store_owner(env)
    except SettingsError:
        owner = None
    return owner.stack if owner else "<the stack that owns the store>"


@functools.cache
def _shared_loader() -> botocore.loaders.Loader:
    return botocore.loaders.create_loader()


def _core_session() -> botocore.session.Session:
    """A botocore session sharing parsed service models with every other one dsctl creates.

    Commands that span environments open several sessions; each would otherwise parse the
    same large service JSON files again (about 0.1 s per client).
    """
    core = botocore.session.Session()
    core.register_component("data_loader", _shared_loader())
    return core


def _wrap(core: botocore.session.Session, region: str | None, credentials: dict[str, str] | None) -> boto3.Session:
    session = boto3.Session(botocore_session=core, region_name=region, **(credentials or {}))
    loader = _shared_loader()
    loader.search_paths[:] = list(dict.fromkeys(loader.search_paths))  # boto3 appends its data path per session
    return session


def new_session(
    profile: str | None = None, region: str | None = None, credentials: dict[str, str] | None = None
) -> boto3.Session:
    """A boto3 session (``profile`` or static ``credentials``, else the default chain) on the shared loader."""
    core = _core_session()
    if profile:
        core.set_config_variable("profile", profile)
    return _wrap(core, region, credentials)


def credential_source(env: Environment, profile: str | None = None, available: list[str] | None = None) -> str | None:
    """The AWS profile ``session_for`` would use: ``profile``, else one named like the env, else None (env vars)."""
    if profile:
        return profile
    profiles = _core_session().available_profiles if available is None else available
    return env.name if env.name in profiles else None


def session_for(env: Environment, profile: str | None = None, role_arn: str | None = None) -> boto3.Session:
    """A boto3 session for ``env``: ``profile``, else the profile named like the env, else env variables.

    With ``role_arn`` the chosen credentials assume that role first (a session name that
    names the operator, so CloudTrail shows who promoted what).
    """
    core = _core_session()
    available = core.available_profiles  # read from the config files; does not validate AWS_PROFILE
    chosen = credential_source(env, profile, available)
    if chosen and chosen not in available:
        raise CommandError(
            f"AWS profile {chosen!r} not found; add it to your AWS config (aws configure --profile {chosen}) "
            "or pass another --profile"
        )
    if chosen:
        core.set_config_variable("profile", chosen)
    session = _wrap(core, env.region, None)
    if not role_arn:
        return session
    if not _ROLE_ARN.fullmatch(role_arn):
        raise CommandError(
            f"--role-arn {role_arn!r} is not an IAM role ARN; write arn:aws:iam::ACCOUNT:role/NAME, "
            f"e.g. {env.operator_role_arn}"
        )
    return assume(session, env, role_arn, "check the role's trust policy allows your identity")


def source_identity(caller_arn: str | None) -> str:
    """``sts:SourceIdentity`` for a role dsctl assumes: the person behind the credentials (an SSO session's name is
    the user's e-mail, an IAM user's its name), else the local user. CloudTrail records it on every call of the
    session and of any role assumed from it, and it cannot be changed later in the chain."""
    name = caller_arn.rsplit("/", 1)[-1] if caller_arn and "/" in caller_arn else _session_user()
    cleaned = re.sub(r"[^\w+=,.@-]", "-", name)[:64]
    return cleaned if len(cleaned) >= 2 else f"{cleaned}--"[:2]


def assume(session: boto3.Session, env: Environment, role_arn: str, fix: str) -> boto3.Session:
    """Assume ``role_arn`` with ``session``'s credentials, naming the person (session name and SourceIdentity)."""
    sts = client(session, "sts")
    try:
        caller = sts.get_caller_identity()["Arn"]
    except (ClientError, BotoCoreError):
        caller = None  # the assume call below reports what is wrong with the credentials
    try:
        creds = sts.assume_role(
            RoleArn=role_arn,
            RoleSessionName=f"dsctl-{env.name}-{_session_user()}"[:64],
            SourceIdentity=source_identity(caller),
        )["Credentials"]
    except (ClientError, BotoCoreError) as err:
        raise CommandError(f"cannot assume {role_arn} for {env.name}: {err}; {fix}") from err
    return new_session(
        region=env.region,
        credentials={
            "aws_access_key_id": creds["AccessKeyId"],
            "aws_secret_access_key": creds["SecretAccessKey"],
            "aws_session_token": creds["SessionToken"],
        },
    )


def _session_user() -> str:
    try:
        user = getpass.getuser()
    except (KeyError, OSError):
        user = "operator"
    return re.sub(r"[^\w+=,.@-]", "-", user)


def _describe_source(session: boto3.Session) -> str:
    profile = session.profile_name
    if profile and profile != "default":
        return f"AWS profile {profile!r}"
    return "the default credential chain (environment variables)"


def verify_account(session: boto3.Session, env: Environment) -> str:
    """Prove with STS that ``session`` acts in ``env``'s account; return the caller ARN.

    Refuses with which account it got, which it needed, and how to get the right credentials.
    """
    fix = (
        f"pass --profile <profile for {env.account_id}>, define an AWS profile named {env.name!r} "
        f"(e.g. role_arn = {env.operator_role_arn}), or pass --role-arn {env.operator_role_arn}"
    )
    source = _describe_source(session)
    try:
        identity = client(session, "sts").get_caller_identity()
    except NoCredentialsError as err:
        raise CommandError(f"no AWS credentials found for environment {env.name} (tried {source}); fix: {fix}") from err
    except (ClientError, BotoCoreError) as err:
        raise CommandError(
            f"credentials for {env.name} from {source} were rejected by STS ({err}); refresh them "
            f"(aws sso login / new keys) or {fix}"
        ) from err
    if identity["Account"] != env.account_id:
        raise CommandError(
            f"credentials from {source} belong to account {identity['Account']} ({identity['Arn']}), "
            f"but environment {env.name} is account {env.account_id} (Pulumi.{env.name}.yaml); fix: {fix}"
        )
    return identity["Arn"]


@dataclass(frozen=True)
class Connection:
    """An environment with a session whose account has been verified."""

    env: Environment
    session: boto3.Session
    caller_arn: str


def connect(name: str, profile: str | None = None, role_arn: str | None = None) -> Connection:
    """Load ``name``, open its session and verify the account: the first step of every env-taking command."""
    env = load_environment(name)
    session = session_for(env, profile, role_arn)
    return Connection(env, session, verify_account(session, env))


def connect_args(args: argparse.Namespace) -> Connection:
    """``connect`` with the standard ``--env/--profile/--role-arn`` arguments."""
    return connect(args.env, args.profile, args.role_arn)


def connect_promoter(args: argparse.Namespace) -> Connection:
    """The connection a promotion or rollback into ``args.env`` runs with.

    In a stack with a promoter role (a production stack's ``promoterPermissionSet``) only that role may change the
    model parameters, so dsctl assumes it with the given credentials (the person's SSO role), unless they already
    are it or ``--role-arn`` names a role; elsewhere it is ``connect_args``.
    """
    env = load_environment(args.env)
    if args.role_arn or not env.has_promoter:
        return connect_args(args)
    base = session_for(env, args.profile)
    caller = verify_account(base, env)
    if caller.split(":assumed-role/", 1)[-1].split("/", 1)[0] == naming.promoter_role():
        return Connection(env, base, caller)
    session = assume(
        base,
        env,
        env.arns.promoter_role,
        f"promotions into {env.name} run as {naming.promoter_role()}, which trusts the IAM Identity Center roles of "
        f"promoterPermissionSet {env.promoter_permission_set} in {env.account_id}: use those credentials (--profile)",
    )
    return Connection(env, session, verify_account(session, env))


def try_connect_all(skip: str | None = None) -> Iterator[tuple[Environment, Connection | None, str | None]]:
    """Every environment with a verified connection, or None and the reason (commands that span environments).

    Uses each environment's default credentials (its named profile, else the environment
    variables), so an operator who has only dev credentials still sees dev.
    """
    for env in all_environments():
        if env.name == skip:
            continue
        try:
            session = session_for(env)
            yield env, Connection(env, session, verify_account(session, env)), None
        except CommandError as err:
            yield env, None, err.message


def add_credential_arguments(parser: argparse.ArgumentParser) -> None:
    """``--profile`` and ``--role-arn``, shared by every command that acts in an environment."""
    parser.add_argument(
        "--profile",
        help="AWS profile to use (default: the profile named like the environment if it exists, "
        "else the AWS_* environment variables)",
    )
    parser.add_argument("--role-arn", help="role to assume with those credentials before acting (e.g. the operator)")


def add_env_arguments(parser: argparse.ArgumentParser, *, required: bool = True) -> None:
    """``--env`` (from the stack files) plus the credential arguments."""
    names = environment_names()
    parser.add_argument(
        "--env",
        required=required,
        choices=names,
        help=f"environment (a stack file Pulumi.<env>.yaml): {', '.join(names)}",
    )
    add_credential_arguments(parser)


def aws_errors(command: Callable[[argparse.Namespace], int]) -> Callable[[argparse.Namespace], int]:
    """Turn an AWS error no check anticipated into dsctl's one-line error (exit 1) instead of a traceback."""

    @functools.wraps(command)
    def run(args: argparse.Namespace) -> int:
        hint = f"dsctl doctor --env {args.env}" if getattr(args, "env", None) else "dsctl doctor --env ENV"
        try:
            return command(args)
        except ClientError as err:
            error = err.response.get("Error", {})
            raise CommandError(
                f"AWS refused {err.operation_name} ({error.get('Code', '?')}: {error.get('Message', '')}); "
                f"check the permissions of these credentials, or run {hint}",
                EXIT_FAILED,
            ) from err
        except BotoCoreError as err:
            raise CommandError(
                f"AWS call failed: {err}; check the network/endpoint and credentials", EXIT_FAILED
            ) from err

    return run
