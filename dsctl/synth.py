"""Offline synth: run ``__main__.py`` under Pulumi's mock runtime and report what a stack would create.

No Pulumi CLI, no credentials, no network: the program runs in this process with the
stack's own YAML config (DESIGN.md section 4), against mocks that answer like AWS
(``dsctl.synth_mocks``). A StackReference to another stack of this project resolves
to that stack's own synthesized outputs, so the reading stack sees the owning
stack's real bucket and key ARNs. Results are cached per config content, so one
process synthesizing prod and dev runs each program once.
"""

from __future__ import annotations

import contextlib
import copy
import hashlib
import json
import runpy
import threading
import warnings
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from components.settings import (
    PROJECT_DIR,
    SettingsError,
    StackSettings,
    config_schema,
    load_stack_settings,
    stack_config_values,
)

PROGRAM = PROJECT_DIR / "__main__.py"

# Inputs holding JSON documents (IAM policies, the state machine definition, container definitions, ...).
JSON_INPUT_KEYS = frozenset(
    {"policy", "assumeRolePolicy", "definition", "containerDefinitions", "eventPattern", "input", "inputTemplate"}
)

_LOCK = threading.Lock()
_CACHE: dict[tuple[str, str], SynthResult] = {}


@dataclass(frozen=True)
class SynthResource:
    """One resource the stack would create (or, with ``read``, look up)."""

    type: str
    name: str
    urn: str
    id: str | None
    parent: str | None
    inputs: dict[str, Any]
    provider: str | None = None
    depends_on: tuple[str, ...] = ()
    ignore_changes: tuple[str, ...] = ()
    protect: bool = False
    custom: bool = True
    read: bool = False

    def to_dict(self) -> dict[str, Any]:
        """JSON form (CONTRACTS.md section 7) plus the resource options under ``options``."""
        return {
            "type": self.type,
            "name": self.name,
            "urn": self.urn,
            "id": self.id,
            "parent": self.parent,
            "inputs": self.inputs,
            "options": {
                "provider": self.provider,
                "dependsOn": list(self.depends_on),
                "ignoreChanges": list(self.ignore_changes),
                "protect": self.protect,
                "custom": self.custom,
                "read": self.read,
            },
        }


@dataclass(frozen=True)
class SynthResult:
    """Everything one stack would create (sorted by URN, so output is stable), and its outputs. Read-only."""

    project: str
    stack: str
    settings: StackSettings
    resources: tuple[SynthResource, ...]
    outputs: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """``{"project", "stack", "resources": [...], "outputs"}`` for ``dsctl synth --json``."""
        return {
            "project": self.project,
            "stack": self.stack,
            "resources": [resource.to_dict() for resource in self.resources],
            "outputs": self.outputs,
        }

    def of_type(self, token: str) -> list[SynthResource]:
        """Resources of one Pulumi type token, e.g. ``aws:s3/bucket:Bucket``, in creation order."""
        return [resource for resource in self.resources if resource.type == token]

    def get(self, token: str, name: str) -> SynthResource:
        """The resource with this type and logical name; KeyError naming what exists otherwise."""
        for resource in self.resources:
            if resource.type == token and resource.name == name:
                return resource
        names = ", ".join(r.name for r in self.of_type(token)) or "none"
        raise KeyError(f"no {token} named {name!r} in stack {self.stack} (have: {names})")

    def by_urn(self, urn: str) -> SynthResource:
        """The resource with this URN."""
        for resource in self.resources:
            if resource.urn == urn:
                return resource
        raise KeyError(f"no resource {urn} in stack {self.stack}")

    def children(self, parent: SynthResource) -> Iterator[SynthResource]:
        """Resources whose parent is ``parent``."""
        return (resource for resource in self.resources if resource.parent == parent.urn)


def parse_json_inputs(value: Any, key: str | None = None) -> Any:
    """Turn JSON strings under ``JSON_INPUT_KEYS`` into dicts/lists, recursively."""
    if isinstance(value, dict):
        return {k: parse_json_inputs(v, k) for k, v in value.items()}
    if isinstance(value, list):
        return [parse_json_inputs(item, key) for item in value]
    if isinstance(value, str) and key in JSON_INPUT_KEYS and value[:1] in ("{", "["):
        try:
            return json.loads(value)
        except ValueError:
            return value
    return value


def decode_provider_inputs(inputs: dict[str, Any]) -> dict[str, Any]:
    """Provider config travels as text (``'["987654321098"]'``, ``'false'``); give it back its JSON types."""
    decoded: dict[str, Any] = {}
    for key, value in inputs.items():
        if isinstance(value, str) and (value[:1] in ("[", "{") or value in ("true", "false")):
            with contextlib.suppress(ValueError):
                value = json.loads(value)
        decoded[key] = value
    return decoded


def _pulumi_config(values: dict[str, Any], project: str) -> dict[str, str]:
    """Config in the form the Pulumi engine passes it: strings raw, everything else as JSON text."""
    types = {key.name: key.type for key in config_schema()}
    return {
        f"{project}:{key}": value if types.get(key) == "string" and isinstance(value, str) else json.dumps(value)
        for key, value in values.items()
    }


def _cache_key(stack: str, config_file: Path | None) -> tuple[str, str]:
    path = config_file or PROJECT_DIR / f"Pulumi.{stack}.yaml"
    content = path.read_bytes() if path.is_file() else b""
    schema = (PROJECT_DIR / "Pulumi.yaml").read_bytes()
    return stack, hashlib.sha256(str(path.resolve()).encode() + content + schema).hexdigest()


def synth(stack: str, config_file: Path | None = None) -> SynthResult:
    """Synthesize ``stack`` offline; raises ``SettingsError`` listing every config problem.

    The result is shared with later calls for the same config: do not mutate it.
    """
    with _LOCK:
        return _synth_locked(stack, Path(config_file) if config_file else None, ())


def _synth_locked(stack: str, config_file: Path | None, chain: tuple[str, ...]) -> SynthResult:
    key = _cache_key(stack, config_file)
    if key in _CACHE:
        return _CACHE[key]
    settings = load_stack_settings(stack, config_file)
    referenced: dict[str, dict[str, Any]] = {}
    source = settings.artifact_source
    upstream = settings.promotes_from
    if source and source.stack_reference and upstream:
        if upstream in chain or not (PROJECT_DIR / f"Pulumi.{upstream}.yaml").is_file():
            raise SettingsError(
                [
                    f"promotesFrom: {upstream!r} — no Pulumi.{upstream}.yaml here (or a cycle), so the store it "
                    "exports cannot be synthesized offline; add that stack file or set the explicit "
                    "artifactSource* values"
                ]
            )
        referenced[source.stack_reference] = _synth_locked(upstream, None, (*chain, stack)).outputs
    values = stack_config_values(stack, config_file)
    result = _run_program(settings, _pulumi_config(values, settings.project), referenced)
    _CACHE[key] = result
    return result


def _run_program(settings: StackSettings, config: dict[str, str], referenced: dict[str, dict[str, Any]]) -> SynthResult:
    # Imported here: importing Pulumi costs ~1.5 s, which `dsctl` commands that never synth should not pay.
    import pulumi
    import pulumi.runtime

    from dsctl.synth_mocks import AwsMocks, RecordingMonitor, unwrap_secrets

    # A pinned stack's registry holds its pins, as after `dsctl image promote` and replication: synth shows the
    # promoted state (the program's refusal of an absent pin is tested with an empty registry).
    pins = tuple(d for d in (settings.image_digest, settings.image_digest_previous) if d)
    mocks = AwsMocks(
        account_id=settings.account_id, region=settings.region, stack_outputs=referenced, registry_digests=pins
    )
    monitor = RecordingMonitor(mocks)
    project, stack = settings.project, settings.stack
    pulumi.runtime.settings.reset_options(project=project, stack=stack, preview=False)
    pulumi.runtime.set_all_config(config)
    pulumi.runtime.set_mocks(mocks, project=project, stack=stack, preview=False, monitor=monitor)
    outputs: dict[str, Any] = {}

    @pulumi.runtime.test
    def run() -> Any:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            runpy.run_path(str(PROGRAM), run_name="__main__")
        root = pulumi.runtime.settings.get_root_resource()
        exported: dict[str, Any] = dict(getattr(root, "outputs", {}) or {})
        return pulumi.Output.all(**exported).apply(outputs.update)

    run()
    resources = tuple(
        SynthResource(
            type=reg.type,
            name=reg.name,
            urn=reg.urn,
            id=reg.id,
            parent=reg.parent,
            inputs=parse_json_inputs(
                decode_provider_inputs(reg.inputs) if reg.type.startswith("pulumi:providers:") else reg.inputs
            ),
            provider=reg.provider,
            depends_on=reg.depends_on,
            ignore_changes=reg.ignore_changes,
            protect=reg.protect,
            custom=reg.custom,
            read=reg.read,
        )
        for reg in sorted(monitor.registrations, key=lambda reg: reg.urn)
    )
    return SynthResult(
        project=project,
        stack=stack,
        settings=settings,
        resources=resources,
        outputs=copy.deepcopy(unwrap_secrets(outputs)),
    )
