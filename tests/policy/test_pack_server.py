"""The pack as the Pulumi engine starts it: ``python -m pulumi.policy <engine> <pack dir>``, then gRPC.

This is the one test that constructs the PolicyPack for real: in a subprocess, which prints its port and serves
until it is stopped. It proves the pack imports the repository's modules when run from its own directory, and that
the engine sees every rule as a mandatory policy.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest
from google.protobuf import empty_pb2, struct_pb2
from pulumi.runtime import proto
from pulumi.runtime.proto import analyzer_pb2_grpc

from policy.rules import RULES

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def analyzer_stub() -> Iterator[analyzer_pb2_grpc.AnalyzerStub]:
    process = subprocess.Popen(
        [sys.executable, "-u", "-m", "pulumi.policy", "127.0.0.1:0", str(REPO / "policy")],
        cwd=REPO / "policy",
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        port = process.stdout.readline().strip()
        if not port.isdigit():
            process.kill()
            pytest.fail(f"the pack did not print its port: {port!r} {process.stderr.read() if process.stderr else ''}")
        with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
            grpc.channel_ready_future(channel).result(timeout=30)
            yield analyzer_pb2_grpc.AnalyzerStub(channel)
    finally:
        process.terminate()
        process.wait(timeout=10)


def test_engine_sees_every_rule_as_mandatory(analyzer_stub: analyzer_pb2_grpc.AnalyzerStub) -> None:
    info = analyzer_stub.GetAnalyzerInfo(empty_pb2.Empty())
    assert info.name == "ds-preprocessing"
    assert [p.name for p in info.policies] == [rule.name for rule in RULES]
    assert {p.enforcementLevel for p in info.policies} == {proto.MANDATORY}


def test_engine_gets_a_violation_over_grpc(analyzer_stub: analyzer_pb2_grpc.AnalyzerStub) -> None:
    properties = struct_pb2.Struct()
    properties.update({"name": "ds-preprocessing", "imageTagMutability": "MUTABLE"})
    request = proto.AnalyzeRequest(
        type="aws:ecr/repository:Repository",
        properties=properties,
        urn="urn:pulumi:prod::ds-preprocessing::aws:ecr/repository:Repository::repository",
        name="repository",
    )
    diagnostics = analyzer_stub.Analyze(request).diagnostics
    assert {d.policyName for d in diagnostics} == {"ecr-scan-immutable"}
    assert any("not scanned on push" in d.message for d in diagnostics)
    assert any("mutable" in d.message for d in diagnostics)
