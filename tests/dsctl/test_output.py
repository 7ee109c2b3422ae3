"""dsctl.output: how tables render for people."""

from __future__ import annotations

import io

from rich.console import Console

from dsctl.output import table


def test_tables_wrap_long_values_instead_of_cutting_them() -> None:
    # A narrow terminal (or output piped to a file: 80 columns) must not turn a run id or bucket into "run-2026…".
    for value in ("run-20261127-105221-a84c", "ds-artifacts-dev-123456789012-us-east-1"):
        console = Console(width=24, file=io.StringIO())
        with console.capture() as captured:
            console.print(table(None, ["value"], [(value,)]))
        text = captured.get()
        assert "…" not in text
        cells = "".join(line.replace("│", "").strip() for line in text.splitlines()[3:-1])  # the body rows
        assert value in cells
