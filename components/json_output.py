"""Turning the pure document builders of ``policy_docs`` into the JSON strings resources take.

The builders format ARNs into strings, so they must run once the Outputs they name are
known; ``document_json`` waits for every keyword argument and then calls the builder.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pulumi


def document_json(builder: Callable[..., Any], **inputs: Any) -> pulumi.Output[str]:
    """JSON (sorted keys, so diffs are stable) of ``builder(**resolved inputs)``."""
    return pulumi.Output.all(**inputs).apply(lambda values: json.dumps(builder(**values), sort_keys=True))
