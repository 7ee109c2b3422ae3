"""The AWS config and credentials files of the local environment.

moto acts in the account of the credentials it is given: static keys act in its
default account, and keys returned by ``sts.assume_role`` act in the role's account
(DESIGN.md section 4). So the environment whose account is moto's default gets static
keys, and every other environment gets a profile that assumes the operator role in
its own account from that one (``role_arn`` + ``source_profile``), exactly as an
operator's real config for a second account looks. The role is the stack's operator
role as ``StackArns`` names it (the caller passes it), so the local config and the
program never disagree. Every dsctl command, boto3 and the AWS CLI then get real
cross-account sessions without knowing they are local.

Each generated config gets its own ``role_session_name``: the AWS CLI caches assumed-role
credentials in ``~/.aws/cli/cache`` keyed by role ARN and session name, and would otherwise
hand a fresh local environment the keys of a previous one. moto does not know those keys and
answers them in its default account, so ``aws ... --profile <stack>`` would silently act
in another stack's account for up to an hour.
"""

from __future__ import annotations

import configparser
import io
import secrets
from collections.abc import Sequence
from dataclasses import dataclass

MOTO_DEFAULT_ACCOUNT = "123456789012"
"""moto's default account: where static credentials act."""
ROOT_PROFILE = "local-root"
"""Static profile used as source when no environment lives in moto's default account."""
STATIC_KEY_ID = "testing"
STATIC_SECRET = "testing"  # moto accepts any credentials: not a secret


@dataclass(frozen=True)
class AccountProfile:
    """One environment's profile: its name, account, region and the role it assumes there."""

    name: str
    account_id: str
    region: str
    role_arn: str
    """The stack's operator role (``StackArns.operator_role``); unused for the profile with static keys."""


@dataclass(frozen=True)
class GeneratedFiles:
    """Text of the two files, plus which profile each environment uses."""

    config: str
    credentials: str
    profiles: dict[str, str]


def _render(parser: configparser.ConfigParser) -> str:
    buffer = io.StringIO()
    parser.write(buffer)
    return buffer.getvalue()


def generate(
    environments: Sequence[AccountProfile], endpoint: str, session_suffix: str | None = None
) -> GeneratedFiles:
    """Build the config (regions, endpoint, role chains) and credentials (static keys) files.

    ``session_suffix`` (default: random) makes the role session names unique to this environment.
    """
    if not environments:
        raise ValueError("no environments to generate profiles for")
    suffix = session_suffix or secrets.token_hex(3)
    static = [env for env in environments if env.account_id == MOTO_DEFAULT_ACCOUNT]
    source = static[0].name if static else ROOT_PROFILE
    region = environments[0].region

    config = configparser.ConfigParser()
    credentials = configparser.ConfigParser()

    def add_static(profile: str, profile_region: str) -> None:
        section = "default" if profile == "default" else f"profile {profile}"
        config[section] = {"region": profile_region, "endpoint_url": endpoint}
        credentials[profile] = {"aws_access_key_id": STATIC_KEY_ID, "aws_secret_access_key": STATIC_SECRET}

    if not static:
        add_static(ROOT_PROFILE, region)
    for env in environments:
        if env.name == source:
            add_static(env.name, env.region)
            continue
        config[f"profile {env.name}"] = {
            "region": env.region,
            "endpoint_url": endpoint,
            "role_arn": env.role_arn,
            "role_session_name": f"dsctl-local-{env.name}-{suffix}",
            "source_profile": source,
        }
    # No [default] credentials on purpose: a command that forgets to pick an environment fails loudly
    # instead of silently acting in whichever account the static keys reach.
    config["default"] = {"region": region, "endpoint_url": endpoint}
    return GeneratedFiles(
        config=_render(config), credentials=_render(credentials), profiles={env.name: env.name for env in environments}
    )
