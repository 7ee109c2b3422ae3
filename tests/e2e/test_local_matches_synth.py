"""`dsctl local up` builds exactly what `dsctl synth` reports, in each stack's own account (issue #5: no drift)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from components.project import stack_names
from dsctl.envs import load_environment, session_for
from dsctl.local import lifecycle, provision, runner, state
from dsctl.synth import synth

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def local_env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[state.LocalState]:
    """One provisioned local environment for both stacks' checks (provisioning is the slow part)."""
    with pytest.MonkeyPatch.context() as monkeypatch:
        monkeypatch.setenv(state.ENV_DIR, str(tmp_path_factory.mktemp("local")))
        for name in ("AWS_PROFILE", "AWS_ENDPOINT_URL", "AWS_CONFIG_FILE", "AWS_SHARED_CREDENTIALS_FILE"):
            monkeypatch.delenv(name, raising=False)
        result = lifecycle.up()
        try:
            yield result.state
        finally:
            lifecycle.down()


@pytest.mark.parametrize("stack", stack_names())
def test_local_resources_are_the_synthesized_ones(local_env: state.LocalState, stack: str) -> None:
    synthesized = synth(stack)
    env = load_environment(stack)
    with lifecycle.pointed_at(local_env):
        session = session_for(env)
        ssm = session.client("ssm", endpoint_url=local_env.endpoint)
        s3 = session.client("s3", endpoint_url=local_env.endpoint)
        for parameter in synthesized.of_type(provision.PARAMETER):
            stored = ssm.get_parameter(Name=parameter.inputs["name"])["Parameter"]
            assert stored["Value"] == parameter.inputs["value"]
            assert stored["ARN"].split(":")[4] == env.account_id  # created in the stack's own account
        owned = {bucket["Name"] for bucket in s3.list_buckets()["Buckets"]}  # moto lists the caller account's
        assert owned == {bucket.inputs["bucket"] for bucket in synthesized.of_type(provision.BUCKET)}
        _, container = runner.task_container(session, local_env.endpoint)
    (definition,) = synthesized.of_type(provision.TASK_DEFINITION)
    (expected,) = definition.inputs["containerDefinitions"]
    assert container["environment"] == expected["environment"]
    assert (container["entryPoint"], container["command"]) == (expected["entryPoint"], expected["command"])
