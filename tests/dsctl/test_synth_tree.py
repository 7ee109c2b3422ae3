"""The synth tree picks the properties a reviewer checks and nests resources under their components."""

from __future__ import annotations

from typing import Any

from rich.console import Console

from dsctl.synth_tree import key_properties, render_tree, short_type


def test_short_type_keeps_module_and_name() -> None:
    assert short_type("aws:s3/bucket:Bucket") == "s3:Bucket"
    assert short_type("ds:storage:SecureBucket") == "ds:storage:SecureBucket"


def test_key_properties_render_numbers_lists_and_principals() -> None:
    assert key_properties("aws:cloudwatch/logGroup:LogGroup", "/ecs/x", {"name": "/ecs/x", "retentionInDays": 7.0}) == {
        "name": "/ecs/x",
        "retentionDays": "7",
    }
    trust = {"Statement": [{"Principal": {"Service": "ecs-tasks.amazonaws.com"}, "Action": "sts:AssumeRole"}]}
    role = key_properties("aws:iam/role:Role", "r", {"name": "r", "assumeRolePolicy": trust})
    assert role == {"name": "r", "trusts": "ecs-tasks.amazonaws.com"}
    policy = {"Statement": [{"Sid": "A"}, {"Sid": "B"}]}
    assert key_properties("aws:s3/bucketPolicy:BucketPolicy", "b", {"bucket": "b", "policy": policy}) == {
        "statements": "A, B"
    }, "an id that only repeats an input is not shown"


def test_arn_ids_are_always_shown_and_unknown_types_show_a_name() -> None:
    arn = "arn:aws:ecs:us-east-1:123456789012:cluster/c"
    assert key_properties("aws:ecs/cluster:Cluster", arn, {"name": "c"}) == {"name": "c", "id": arn}
    assert key_properties("aws:x/y:Z", "z-123", {"name": "z"}) == {"name": "z", "id": "z-123"}


class _Resource:
    def __init__(self, token: str, name: str, parent: str | None, custom: bool, inputs: dict[str, Any]) -> None:
        self.type, self.name, self.urn, self.id = token, name, f"urn:{name}", name
        self.parent, self.custom, self.inputs = parent, custom, inputs


class _Result:
    project, stack, outputs = "p", "dev", {}

    def __init__(self, resources: list[_Resource]) -> None:
        self.resources = resources


def test_children_listed_before_their_parent_still_nest_under_it() -> None:
    child = _Resource("aws:s3/bucket:Bucket", "data", "urn:store", True, {"bucket": "data-bucket"})
    store = _Resource("ds:storage:Store", "store", None, False, {})
    console = Console(width=200, record=True)
    console.print(render_tree(_Result([child, store])))  # type: ignore[arg-type]
    lines = console.export_text().splitlines()
    assert "store ds:storage:Store" in lines[1]
    assert lines[2].startswith("    └── data s3:Bucket")
    assert "bucket=data-bucket" in lines[3]
