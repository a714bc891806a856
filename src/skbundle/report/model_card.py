"""``model_card.md``: what the model is, what it is for, how well it does, how to call it.

Every value taken from the bundle (its manifest or ``readiness.json``) is data, not Markdown:
it goes through :mod:`skbundle.report.markdown` (``md_escape`` in text and table cells,
``md_code`` in a code span); the example calls in the code blocks are JSON, shell-quoted.
"""

from __future__ import annotations

import json
import shlex
from collections.abc import Callable
from typing import Any

from skbundle.core.manifest import Category, FeatureSpec, Manifest
from skbundle.core.metrics import REGRESSION_METRICS, SCALAR_METRICS
from skbundle.report.checklist import Checklist
from skbundle.report.markdown import md_code, md_escape

_CARD_PACKAGES = ("scikit-learn", "numpy", "scipy", "joblib", "pandas", "skbundle")
_METRICS = SCALAR_METRICS
CATEGORY_PREVIEW = 10
"""How many categories a schema table shows before it says '... (N more)'."""
NO_PROBABILITIES = (
    "This classifier has no predict_proba: it gives labels only, so there are no "
    "probabilities, no confidence per prediction, no ROC AUC or log loss, and no ROC or "
    "calibration curve."
)
"""What every rendered file says about a classifier served by label."""
NOT_A_SUBSTITUTE = (
    "It is a statistical model: not a substitute for expert judgement where an error has "
    "serious consequences."
)
"""What the model card, the report and the server's page say about every model."""


def category_text(value: Category) -> str:
    """A category as a caller sends it: ``true``/``false`` for a boolean (JSON), else as is."""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def category_preview(
    spec: FeatureSpec, *, limit: int = CATEGORY_PREVIEW, escape: Callable[[str], str] = str
) -> str:
    """The first ``limit`` known categories of ``spec``, then ``... (N more)``.

    ``escape`` is applied to each category (``md_escape`` for Markdown); the rest is ours.
    """
    known = spec.categories or []
    shown = ", ".join(escape(category_text(v)) for v in known[:limit])
    more = f", ... ({len(known) - limit} more)" if len(known) > limit else ""
    return f"{shown}{more}" if known else "-"


def unseen_text(spec: FeatureSpec) -> str:
    """What happens to a category never seen in training."""
    if spec.kind == "boolean":
        return "refused (true or false only)"
    if spec.unknown == "accept":
        return "accepted, with a warning"
    return "refused"


def kind_counts(manifest: Manifest) -> str:
    """``30 numeric`` or ``4 numeric, 2 categorical, 1 boolean``."""
    counts = {k: sum(f.kind == k for f in manifest.features) for k in _KINDS}
    return ", ".join(f"{n} {k}" for k, n in counts.items() if n) or "no"


def output_text(manifest: Manifest) -> str:
    """What the model gives per record."""
    if manifest.output == "values":
        return "a number"
    if manifest.output == "labels":
        return "a class label, no probabilities"
    return "a class label with its probabilities"


_KINDS = ("numeric", "categorical", "boolean")


def _example(manifest: Manifest, limit: int | None = None) -> dict[str, Any]:
    """The stored held-out example where there is one (its features in schema order), else a
    typical record."""
    features = manifest.features if limit is None else manifest.features[:limit]
    stored = manifest.example or {}
    return {f.name: stored[f.name] if f.name in stored else _typical(f) for f in features}


def _typical(f: FeatureSpec) -> Any:
    if f.kind != "numeric":
        return (f.categories or [""])[0]
    return round(f.mean, 4) if f.mean is not None else 0.0


def _names(names: list[str]) -> str:
    return ", ".join(md_escape(name) for name in names)


def _counts(counts: dict[str, Any]) -> str:
    return ", ".join(f"{md_escape(name)} {md_escape(n)}" for name, n in counts.items())


def _num(value: Any, spec: str = ".4f") -> str:
    return format(value, spec) if isinstance(value, (int, float)) else "-"


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


def _model_lines(m: Manifest) -> list[str]:
    if m.task == "regression":
        task = "- Task: regression: predicts a number"
    else:
        task = f"- Task: {md_escape(m.task)}, classes {_names(m.classes)}; gives {output_text(m)}"
    lines = [
        task,
        "- Pipeline: " + " -> ".join(md_code(step) for step in m.pipeline),
        f"- Built: {md_escape(m.created_at)}; bundle format v{m.format_version}",
        f"- Runtimes: {_names(sorted(m.parity)) or 'none'}",
    ]
    if m.output == "labels":
        lines.append(f"- {NO_PROBABILITIES}")
    return lines


def _use_lines(m: Manifest) -> list[str]:
    n = len(m.features)
    numeric = all(f.kind == "numeric" for f in m.features)
    described = f"the {n} numeric features" if numeric else f"the {n} features ({kind_counts(m)})"
    if m.task == "regression":
        use = f"- Intended use: predict a number for records described by {described} below."
    else:
        use = (
            f"- Intended use: classify records described by {described} below into one of "
            f"{_names(m.classes)}."
        )
    lines = [
        use,
        "- Inputs are validated against the schema: a missing feature, a string, NaN (where "
        "training had none), infinity or an unknown field is refused with an error naming it.",
    ]
    if not numeric:
        lines.append(
            "- A categorical feature takes one of the categories seen in training; what happens "
            "to a category never seen is given per feature below (refused with an error, or "
            "accepted with a warning attached to that prediction)."
        )
    lines += [
        "- Predictions are reliable only within the ranges seen in training; a value outside "
        "its training range is accepted with a warning attached to that prediction.",
        f"- It learned from {m.dataset.n_rows} rows; data drawn from another population, or "
        "drifting away from the training data, can make it wrong without any error.",
        f"- {NOT_A_SUBSTITUTE}",
    ]
    return lines


def _dataset_lines(m: Manifest, dataset: dict[str, Any]) -> list[str]:
    lines = [
        f"- {m.dataset.n_rows} training rows x {m.dataset.n_features} features "
        f"(SHA-256 {md_escape(m.dataset.sha256[:16])}...)",
    ]
    if not dataset:
        return lines
    n_train, n_test = md_escape(dataset.get("n_train")), md_escape(dataset.get("n_test"))
    split = f"- Split: {n_train} train / {n_test} test"
    if "class_counts_train" in dataset:
        return [
            *lines,
            f"{split}; class balance train {_counts(dataset['class_counts_train'])}, "
            f"test {_counts(dataset.get('class_counts_test', {}))}",
        ]
    lines += [
        f"{split}.",
        "",
        "| target | mean | std | min | max |",
        "| --- | --- | --- | --- | --- |",
    ]
    for name in ("train", "test"):
        summary = dataset.get(f"target_{name}")
        if isinstance(summary, dict):
            cells = " | ".join(_num(summary.get(k), ".4g") for k in ("mean", "std", "min", "max"))
            lines.append(f"| {name} | {cells} |")
    return lines


def _metric_lines(m: Manifest) -> list[str]:
    test = m.metrics.get("test", {})
    if m.task != "regression":
        lines = ["| metric | value |", "| --- | --- |"]
        lines += [f"| {k} | {test[k]:.4f} |" for k in _METRICS if k in test]
        lines.append(f"| rows | {md_escape(test.get('n_rows'))} |")
        if m.output == "labels":
            lines += ["", NO_PROBABILITIES]
        return lines
    train = m.metrics.get("train", {})
    lines = ["| metric | test | train |", "| --- | --- | --- |"]
    lines += [
        f"| {k} | {_num(test.get(k))} | {_num(train.get(k))} |"
        for k in REGRESSION_METRICS
        if k in test
    ]
    lines.append(
        f"| rows | {md_escape(test.get('n_rows'))} | {md_escape(train.get('n_rows', '-'))} |"
    )
    lines += [
        "",
        "r2: share of the target's variance explained (1 is perfect, 0 is no better than the "
        "mean); mae, rmse, median_ae, max_error: absolute errors, in the target's unit.",
    ]
    return lines


def interval_lines(m: Manifest) -> list[str]:
    """The prediction interval of a regressor, in plain words (also used by the report)."""
    iv = m.interval
    if iv is None:
        return ["No prediction interval was calibrated: predictions come without one."]
    return [
        f"Every prediction comes with an interval: the predicted value +/- {iv.half_width:.4g}, "
        f"at a {iv.level:.0%} level.",
        f"Method: {iv.method}, the width calibrated on {iv.n_calibration} held-out rows.",
        f"Measured coverage: {iv.coverage:.1%} of held-out rows fell inside their interval "
        f"(target {iv.level:.0%}), each half of the test split checked with the width "
        "calibrated on the other half.",
        "The coverage is marginal: it holds on average over records like the test data, not "
        "for each record. The width is the same everywhere, so the interval is too wide where "
        "the model is sure and too narrow where it is not, and it assumes new data resemble the "
        "test data (no drift).",
    ]


def positive_lines(m: Manifest, escape: Callable[[str], str] = str) -> list[str]:
    """What a binary classifier does for its positive class, in words (report and card).

    ``escape`` is applied to each class name (``md_escape`` for Markdown); the rest is ours.
    """
    positive = m.metrics.get("test", {}).get("positive")
    if m.task != "classification" or len(m.classes) != 2 or not isinstance(positive, dict):
        return []
    raw = str(positive.get("class"))
    name = escape(raw)
    other = escape(next((c for c in m.classes if c != raw), "the other class"))
    named = (
        "named when the bundle was saved"
        if m.positive_class is not None
        else "not named when the bundle was saved: the second class is taken"
    )

    def share(key: str, hits: str, misses: str) -> str:
        value, a, b = positive.get(key), positive.get(hits), positive.get(misses)
        if not isinstance(value, (int, float)) or not isinstance(a, int) or not isinstance(b, int):
            return "-"
        return f"{value:.4f} ({a} of {a + b})"

    def count(key: str) -> str:
        value = positive.get(key)
        return str(value) if isinstance(value, int) else "-"

    return [
        f"Positive class: {name} ({named}). The curves, sensitivity and specificity are about "
        f"{name}.",
        f"Sensitivity (recall of {name}: the share of {name} cases the model finds): "
        f"{share('sensitivity', 'true_positives', 'false_negatives')}; missed {name} cases "
        f"(predicted {other}): {count('false_negatives')}.",
        f"Specificity (the share of {other} cases predicted {other}): "
        f"{share('specificity', 'true_negatives', 'false_positives')}; false alarms "
        f"(predicted {name}): {count('false_positives')}.",
        f"Positive predictive value (a {name} prediction is right): "
        f"{share('ppv', 'true_positives', 'false_positives')}; negative predictive value "
        f"(a {other} prediction is right): {share('npv', 'true_negatives', 'false_negatives')}.",
    ]


def _feature_lines(m: Manifest) -> list[str]:
    numeric = [f for f in m.features if f.kind == "numeric"]
    other = [f for f in m.features if f.kind != "numeric"]
    lines: list[str] = []
    described = any(f.description or f.unit for f in m.features)
    head = " description | unit |" if described else ""
    rule = " --- | --- |" if described else ""

    def about(f: FeatureSpec) -> str:
        if not described:
            return ""
        return f" {md_escape(f.description) or '-'} | {md_escape(f.unit) or '-'} |"

    if numeric:
        if other:
            lines += ["### Numeric features", ""]
        lines += [
            f"| feature |{head} min | max | mean | missing |",
            f"| --- |{rule} --- | --- | --- | --- |",
        ]
        for f in numeric:
            cells = (f"{v:.4g}" if v is not None else "-" for v in (f.min, f.max, f.mean))
            lines.append(
                f"| {md_escape(f.name)} |{about(f)} {' | '.join(cells)} | "
                f"{'accepted' if f.missing_allowed else 'refused'} |"
            )
    if other:
        if numeric:
            lines.append("")
        lines += [
            "### Categorical and boolean features",
            "",
            f"Categories as a caller sends them (the first {CATEGORY_PREVIEW} of each).",
            "",
            f"| feature |{head} kind | categories | unseen category | missing |",
            f"| --- |{rule} --- | --- | --- | --- |",
        ]
        for f in other:
            n = len(f.categories or [])
            lines.append(
                f"| {md_escape(f.name)} |{about(f)} {f.kind} ({n}) | "
                f"{category_preview(f, escape=md_escape)} | {unseen_text(f)} | "
                f"{'accepted' if f.missing_allowed else 'refused'} |"
            )
    return lines


def render(manifest: Manifest, data: dict[str, Any], checklist: Checklist | None) -> str:
    """The model card as Markdown, for a classifier (with or without probabilities) or a
    regressor."""
    m = manifest
    out = [
        f"# Model card: {md_escape(m.name)} {md_escape(m.version)}",
        "",
        md_escape(m.description) or "_No description was given when the bundle was saved._",
        "",
        "## The model",
        "",
        *_model_lines(m),
        "",
        "## Intended use and limits",
        "",
        *_use_lines(m),
        "",
        "## Training data",
        "",
        *_dataset_lines(m, data.get("dataset", {})),
        "",
        "## Metrics (held-out test split)",
        "",
        *_metric_lines(m),
        "",
        *(f"- {line}" for line in positive_lines(m, md_escape)),
    ]
    if positive_lines(m):
        out.append("")
    if m.task == "regression":
        out += ["## Prediction interval", "", *(f"- {line}" for line in interval_lines(m)), ""]
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
    out += _feature_lines(m)
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
