"""``model_card.md``: what the model is, what it is for, how well it does, how to call it.

Every value taken from the bundle (its manifest or ``readiness.json``) is data, not Markdown:
it goes through :mod:`skbundle.report.markdown` (``md_escape`` in text and table cells,
``md_code`` in a code span); the example calls in the code blocks are JSON, shell-quoted.
"""

from __future__ import annotations

import json
import shlex
from typing import Any

from skbundle.core.manifest import Manifest
from skbundle.core.metrics import SCALAR_METRICS
from skbundle.report.checklist import Checklist
from skbundle.report.markdown import md_code, md_escape

_CARD_PACKAGES = ("scikit-learn", "numpy", "scipy", "joblib", "pandas", "skbundle")
_METRICS = SCALAR_METRICS


def _example(manifest: Manifest, limit: int | None = None) -> dict[str, float]:
    features = manifest.features if limit is None else manifest.features[:limit]
    return {f.name: round(f.mean, 4) if f.mean is not None else 0.0 for f in features}


def _names(names: list[str]) -> str:
    return ", ".join(md_escape(name) for name in names)


def _counts(counts: dict[str, Any]) -> str:
    return ", ".join(f"{md_escape(name)} {md_escape(n)}" for name, n in counts.items())


def checklist_summary(checklist: Checklist | None, *, strict: bool = False) -> list[str]:
    if checklist is None:
        return ["Not computed yet: run `skbundle check PATH`."]
    counts = checklist.counts()
    verdict = "ready to deploy" if checklist.ok(strict=strict) else "NOT ready to deploy"
    lines = [
        f"**{verdict}** (computed {md_escape(checklist.computed_at)}): "
        + ", ".join(f"{n} {status}" for status, n in counts.items() if n),
        "",
    ]
    lines += [
        f"- {item.status.upper()}: {md_escape(item.title)}"
        for item in checklist.items
        if item.status != "pass"
    ]
    return lines


def render(manifest: Manifest, data: dict[str, Any], checklist: Checklist | None) -> str:
    """The model card as Markdown."""
    m = manifest
    test = m.metrics.get("test", {})
    dataset = data.get("dataset", {})
    classes = _names(m.classes)
    out = [
        f"# Model card: {md_escape(m.name)} {md_escape(m.version)}",
        "",
        md_escape(m.description) or "_No description was given when the bundle was saved._",
        "",
        "## The model",
        "",
        f"- Task: {md_escape(m.task)}, classes {classes}",
        "- Pipeline: " + " -> ".join(md_code(step) for step in m.pipeline),
        f"- Built: {md_escape(m.created_at)}; bundle format v{m.format_version}",
        f"- Runtimes: {_names(sorted(m.parity)) or 'none'}",
        "",
        "## Intended use and limits",
        "",
        f"- Intended use: classify records described by the {len(m.features)} numeric features "
        f"below into one of {classes}.",
        "- Inputs are validated against the schema: a missing feature, a string, NaN (where "
        "training had none), infinity or an unknown field is refused with an error naming it.",
        "- Predictions are reliable only within the ranges seen in training; a value outside "
        "its training range is accepted with a warning attached to that prediction.",
        f"- It learned from {m.dataset.n_rows} rows; data drawn from another population, or "
        "drifting away from the training data, can make it wrong without any error.",
        "- It is a statistical model: not a substitute for expert judgement where an error "
        "has serious consequences.",
        "",
        "## Training data",
        "",
        f"- {m.dataset.n_rows} training rows x {m.dataset.n_features} features "
        f"(SHA-256 {md_escape(m.dataset.sha256[:16])}...)",
    ]
    if dataset:
        out.append(
            f"- Split: {md_escape(dataset['n_train'])} train / {md_escape(dataset['n_test'])} "
            f"test; class balance train {_counts(dataset['class_counts_train'])}, "
            f"test {_counts(dataset['class_counts_test'])}"
        )
    out += ["", "## Metrics (held-out test split)", "", "| metric | value |", "| --- | --- |"]
    out += [f"| {k} | {test[k]:.4f} |" for k in _METRICS if k in test]
    out += [f"| rows | {md_escape(test.get('n_rows'))} |", ""]
    importance = data.get("importance")
    out += ["## Features", ""]
    if importance:
        out.append(f"Top 10 by importance ({md_escape(importance['method'])}):")
        out.append("")
        out += [
            f"{i}. {md_escape(name)} ({value:.4f})"
            for i, (name, value) in enumerate(importance["features"][:10], start=1)
        ]
        out.append("")
    out += ["| feature | min | max | mean | missing |", "| --- | --- | --- | --- | --- |"]
    for f in m.features:
        cells = (f"{v:.4g}" if v is not None else "-" for v in (f.min, f.max, f.mean))
        out.append(
            f"| {md_escape(f.name)} | {' | '.join(cells)} | "
            f"{'accepted' if f.missing_allowed else 'refused'} |"
        )
    # A fence ends only at a line that starts with backticks; every line below starts with our
    # own text, and json.dumps escapes line breaks, so no feature name can close one.
    example = shlex.quote(json.dumps(_example(m)))
    out += [
        "",
        "## How to call it",
        "",
        "Python:",
        "",
        "```python",
        "import skbundle",
        "bundle = skbundle.load(PATH)  # add trust_pickle=True only for a bundle you built",
        f"bundle.predict({json.dumps(_example(m, 3))[:-1]}, ...}})",
        "```",
        "",
        "Command line:",
        "",
        "```bash",
        f"skbundle predict PATH {example}",
        "```",
        "",
        "HTTP (with `skbundle serve PATH` running):",
        "",
        "```bash",
        "curl -s -X POST http://127.0.0.1:8000/predict -H 'Content-Type: application/json' \\",
        f"  -d {example}",
        "```",
        "",
        "## Versions",
        "",
        f"- Python {md_escape(m.environment.python)} on {md_escape(m.environment.platform)}",
    ]
    out += [
        f"- {name} {md_escape(m.environment.packages[name])}"
        for name in _CARD_PACKAGES
        if name in m.environment.packages
    ]
    out += ["", "## Deployment checklist", "", *checklist_summary(checklist), ""]
    return "\n".join(out)
