"""``report.html``: one run as a page people can look at, written next to the run's manifest.

Self-contained on purpose: inline CSS and inline SVG charts, no script, no font or
stylesheet from anywhere, so it opens from a downloaded S3 object or a laptop with no
network and shows the same thing in five years. It renders the accounting, rejected
rows by reason with a few samples each, and per feature this month's distribution
against training's (the manifest's ``drift``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from html import escape
from typing import Any

import polars as pl

from job.transform import RAW_RECORD, REJECT_REASON

REPORT_FILE = "report.html"
SAMPLES_PER_REASON = 5
_BAR_WIDTH, _BAR_HEIGHT, _CHART_HEIGHT = 22, 120, 150
_STYLE = """
body{font-family:system-ui,sans-serif;margin:2em;color:#222;max-width:1100px}
h1{font-size:1.4em}h2{font-size:1.15em;margin-top:2em;border-bottom:1px solid #ccc}
table{border-collapse:collapse;margin:.5em 0}td,th{border:1px solid #ccc;padding:.25em .6em;text-align:left}
td.n{text-align:right;font-variant-numeric:tabular-nums}.bad{color:#b00020;font-weight:bold}.ok{color:#1b5e20}
.feature{display:inline-block;vertical-align:top;margin:0 1.5em 1.5em 0}code{font-size:.9em}
.legend span{display:inline-block;width:.9em;height:.9em;margin:0 .3em 0 1em;vertical-align:middle}
"""
_TRAINING, _MONTH = "#9e9e9e", "#1565c0"


def rejected_samples(rejected: pl.LazyFrame, limit: int = SAMPLES_PER_REASON) -> dict[str, list[dict[str, Any]]]:
    """Up to ``limit`` rejected rows per reason (from the staged rejected Parquet)."""
    frame = rejected.group_by(REJECT_REASON, maintain_order=True).head(limit).collect()
    samples: dict[str, list[dict[str, Any]]] = {}
    for row in frame.iter_rows(named=True):
        samples.setdefault(str(row[REJECT_REASON]), []).append(row)
    return samples


def _table(header: Sequence[str], rows: Sequence[Sequence[Any]], numeric: Sequence[int] = ()) -> str:
    head = "".join(f"<th>{escape(h)}</th>" for h in header)
    body = []
    for row in rows:
        cells = [
            f'<td class="n">{escape(str(v))}</td>' if i in numeric else f"<td>{escape(str(v))}</td>"
            for i, v in enumerate(row)
        ]
        body.append("<tr>" + "".join(cells) + "</tr>")
    return f"<table><tr>{head}</tr>{''.join(body)}</table>"


def _chart(name: str, feature: Mapping[str, Any]) -> str:
    """Bars of training (grey) and this month (blue) per bucket, as inline SVG."""
    expected, actual = feature["expected"], feature["actual"]
    top = max([*expected, *actual, 1e-9])
    width = len(expected) * (2 * _BAR_WIDTH + 8) + 10
    bars = []
    for i, (e, a) in enumerate(zip(expected, actual, strict=True)):
        x = 5 + i * (2 * _BAR_WIDTH + 8)
        for offset, share, colour in ((0, e, _TRAINING), (_BAR_WIDTH, a, _MONTH)):
            h = share / top * _BAR_HEIGHT
            bars.append(
                f'<rect x="{x + offset}" y="{_BAR_HEIGHT - h + 5:.1f}" width="{_BAR_WIDTH - 2}" height="{h:.1f}" '
                f'fill="{colour}"><title>{share:.2%}</title></rect>'
            )
        bars.append(
            f'<text x="{x + _BAR_WIDTH}" y="{_CHART_HEIGHT - 8}" font-size="10" text-anchor="middle">{i}</text>'
        )
    state = '<span class="bad">drifted</span>' if feature["drifted"] else '<span class="ok">stable</span>'
    extra = f", unseen {feature['unseen_share']:.2%}" if "unseen_share" in feature else ""
    return (
        f'<div class="feature" data-feature="{escape(name)}"><b>{escape(name)}</b> ({escape(feature["kind"])}): '
        f"PSI {feature['psi']:.4f} {state}{extra}<br>"
        f'<svg width="{width}" height="{_CHART_HEIGHT}" role="img" '
        f'aria-label="{escape(name)}: training and this month per bucket">{"".join(bars)}</svg></div>'
    )


def _buckets_note(model_summary: Mapping[str, Any]) -> str:
    baseline = model_summary.get("drift_baseline", {})
    numeric = [
        f"{escape(name)}: " + ", ".join(f"{e:g}" for e in spec["edges"])
        for name, spec in baseline.items()
        if "edges" in spec
    ]
    if not numeric:
        return ""
    return "<p>Numeric buckets: below the first edge, between edges, above the last, then empty cells. Edges: " + (
        "; ".join(numeric) + ". Categorical buckets: the vocabulary in order, then other (empty or unseen).</p>"
    )


def render(
    manifest: Mapping[str, Any],
    samples: Mapping[str, list[dict[str, Any]]],
    model_summary: Mapping[str, Any] | None = None,
) -> str:
    """The run's report as one self-contained HTML page."""
    run_id = str(manifest["run_id"])
    balanced = manifest["rows_in"] == manifest["rows_out"] + manifest["rows_rejected"]
    accounting = _table(
        ["rows in", "rows out", "rows rejected", "balanced"],
        [[manifest["rows_in"], manifest["rows_out"], manifest["rows_rejected"], "yes" if balanced else "NO"]],
        numeric=(0, 1, 2),
    )
    reasons = manifest.get("rejected_by_reason", {})
    share = {r: n / manifest["rows_in"] if manifest["rows_in"] else 0.0 for r, n in reasons.items()}
    by_reason = _table(
        ["reason", "rows", "share of rows in"],
        [[r, n, f"{share[r]:.4%}"] for r, n in reasons.items()],
        numeric=(1, 2),
    )
    sample_html = []
    for reason, rows in samples.items():
        columns = [c for c in rows[0] if c != REJECT_REASON and (c != RAW_RECORD or any(r[c] for r in rows))]
        values = [["" if r[c] is None else r[c] for c in columns] for r in rows]
        sample_html.append(f"<h3><code>{escape(reason)}</code></h3>" + _table(columns, values))
    drift = manifest.get("drift", {})
    if drift.get("available"):
        drifted = drift["drifted_features"]
        head = (
            f"<p>PSI threshold {drift['threshold']}; max PSI {drift['max_psi']:.4f}; "
            f"{len(drifted)} drifted feature(s){': ' + escape(', '.join(drifted)) if drifted else ''}; "
            f"{drift['rows']} valid rows.</p>"
        )
        legend = (
            f'<p class="legend"><span style="background:{_TRAINING}"></span>training'
            f'<span style="background:{_MONTH}"></span>this month</p>'
        )
        charts = "".join(_chart(name, f) for name, f in drift["features"].items())
        drift_html = head + legend + _buckets_note(model_summary or {}) + charts
    else:
        drift_html = f"<p>Drift unavailable: {escape(str(drift.get('reason', 'not measured')))}</p>"
    model = manifest.get("model", {})
    version, digest = escape(str(model.get("version"))), escape(str(model.get("sha256", ""))[:12])
    environment, finished = escape(str(manifest.get("environment"))), escape(str(manifest.get("finished", "")))
    timings = ", ".join(f"{escape(k)} {v}" for k, v in manifest.get("timings", {}).items())
    return (
        '<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">'
        f"<title>run {escape(run_id)}</title><style>{_STYLE}</style></head><body>"
        f"<h1>Run <code>{escape(run_id)}</code></h1>"
        f"<p>Model {version} (sha256 <code>{digest}</code>), environment {environment}, finished {finished}; "
        f"timings: {timings}.</p>"
        f'<h2 id="accounting">Accounting</h2>{accounting}'
        f'<h2 id="rejected">Rejected rows by reason</h2>{by_reason}{"".join(sample_html)}'
        f'<h2 id="drift">This month against training</h2>{drift_html}'
        "</body></html>\n"
    )
