"""The page at ``GET /``: try the model in a browser.

One self-contained HTML document (inline CSS and JavaScript, no external assets): what the
model is for and its limits (the model card's, with "not a substitute for expert judgement"),
links to the model card and the report (served at ``GET /model-card`` and ``GET /report``, see
:func:`document`), a form with every feature (its description and unit as help text),
pre-filled with the bundle's stored example (a real record of the held-out test split, whose
true label the page shows) or, for a bundle without one, a typical record (training means,
first categories), a button that calls ``POST /predict``, the answer, and each validation
problem shown next to its field. On a wide screen the answer sits beside the form; on a narrow
one (a phone) above it. A numeric feature is a text field; a categorical one a ``<select>`` of
its categories, a boolean one a ``<select>`` of false and true, each with an empty "(missing)"
option where the feature had missing values in training. The answer follows what the bundle
predicts: the class with a probability bar per class; the class and its decision scores; or a
regressor's value and its prediction interval. Values are sent as typed; the server's
validator, not the page, decides what is wrong, so the page shows exactly what an API client
would get.

The page is ``report/templates/page.html.j2``, rendered like every other page by
:func:`skbundle.report.templates.render` with autoescape on: the form's names, categories and
hints are written by Jinja2, escaped. What the script needs arrives as JSON in a
``<script type="application/json">`` element (an option's value is the index of its category
there, so a category reaches the server with its JSON type), and the script writes every name
it shows with ``textContent``, never as markup.
"""

from __future__ import annotations

from typing import Any

from skbundle.bundle import Bundle
from skbundle.core.integrity import read_verified
from skbundle.core.layout import MODEL_CARD_NAME, REPORT_NAME
from skbundle.core.manifest import FeatureSpec, Manifest
from skbundle.errors import BundleIntegrityError, InputValidationError
from skbundle.report.model_card import NOT_A_SUBSTITUTE

DOCUMENTS = {
    "/report": (REPORT_NAME, "text/html; charset=utf-8"),
    "/model-card": (MODEL_CARD_NAME, "text/plain; charset=utf-8"),
}
"""The bundle's documents the server shows, by route: the file and its media type. The model
card is Markdown, shown as plain text (no Markdown is rendered, so none of it is markup)."""
DOCUMENT_HEADERS = {
    # report.html is self-contained: inline styles and data: images, no script, nothing fetched.
    "Content-Security-Policy": "default-src 'none'; img-src data:; style-src 'unsafe-inline'; "
    "base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
    "X-Content-Type-Options": "nosniff",
    "Cache-Control": "no-cache",
}


def _range(spec: FeatureSpec) -> str:
    if spec.min is None or spec.max is None:
        return "no training values"
    return f"training range {spec.min:.4g} to {spec.max:.4g}"


def _shown(value: object) -> str:
    """A category as the page shows it (booleans as JSON writes them)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _hint(spec: FeatureSpec) -> str:
    if spec.kind == "numeric":
        text = _range(spec)
    elif spec.kind == "boolean":
        text = "true or false"
    else:
        n = len(spec.categories or [])
        text = f"{n} {'category' if n == 1 else 'categories'}"
        if spec.unknown == "accept":
            text += "; others accepted as unknown"
    return text + (" \u00b7 may be empty" if spec.missing_allowed else "")


def _field(spec: FeatureSpec) -> dict[str, Any]:
    return {
        "name": spec.name,
        "kind": spec.kind,
        "description": spec.description,
        "unit": spec.unit,
        "hint": _hint(spec),
        "range": _range(spec) if spec.kind == "numeric" else "",
        "missing_allowed": spec.missing_allowed,
        "categories": list(spec.categories or []) if spec.kind != "numeric" else None,
    }


def default_record(bundle: Bundle, typical: dict[str, Any]) -> tuple[dict[str, Any], bool]:
    """The record the form starts from, and whether it is the stored held-out example.

    The stored example when the bundle has one and the validator accepts it (a feature it
    lacks is taken from ``typical``); else ``typical``.
    """
    stored = bundle.manifest.example
    if not stored:
        return typical, False
    record = {name: stored.get(name, typical[name]) for name in typical}
    try:
        bundle.validate(record)
    except InputValidationError:
        return typical, False
    return record, True


def limits(manifest: Manifest) -> list[str]:
    """What the model is for and where it stops, in plain sentences (the model card's)."""
    n = len(manifest.features)
    if manifest.task == "regression":
        use = f"Predicts a number from the {n} features below."
    else:
        use = f"Classifies a record of the {n} features below as one of: " + (
            ", ".join(manifest.classes) + "."
        )
    return [
        use,
        "Reliable only within the ranges seen in training: a value outside its range is "
        "accepted with a warning on the prediction.",
        f"It learned from {manifest.dataset.n_rows} rows; data from another population, or "
        "drifting away from the training data, can make it wrong without any error.",
        NOT_A_SUBSTITUTE,
    ]


def performance(manifest: Manifest) -> str:
    """How it did on the held-out test split, in one sentence; empty when not recorded."""
    test = manifest.metrics.get("test", {})
    n = test.get("n_rows")
    if manifest.task == "regression":
        mae = test.get("mae")
        if not isinstance(mae, (int, float)) or not isinstance(n, int):
            return ""
        return f"On {n} held-out test records: mean absolute error {mae:.4g}."
    accuracy = test.get("accuracy")
    if not isinstance(accuracy, (int, float)) or not isinstance(n, int):
        return ""
    text = f"On {n} held-out test records: {100 * accuracy:.1f}% classified correctly"
    positive = test.get("positive")
    if isinstance(positive, dict):
        tp, fn = positive.get("true_positives"), positive.get("false_negatives")
        if isinstance(tp, int) and isinstance(fn, int) and tp + fn:
            text += (
                f"; {tp} of {tp + fn} {positive.get('class')} cases found "
                f"(sensitivity {100 * tp / (tp + fn):.1f}%), {fn} missed"
            )
    return text + "."


def document(bundle: Bundle, route: str) -> tuple[bytes, str] | None:
    """The bytes and media type of the bundle document served at ``route`` (see
    ``DOCUMENTS``), read and checked against the manifest the server loaded; None when the
    bundle has no such file or it changed since (a refresh while serving: restart to show it).
    """
    name, media = DOCUMENTS[route]
    artifact = next((a for a in bundle.manifest.artifacts if a.path == name), None)
    if artifact is None:
        return None
    try:
        return read_verified(bundle.path, artifact), media
    except BundleIntegrityError:
        return None


def _has(manifest: Manifest, name: str) -> bool:
    return any(a.path == name for a in manifest.artifacts)


def render(bundle: Bundle, example: dict[str, Any], *, auth: bool) -> str:
    """The page for ``bundle``; computed once, on its first request. ``example`` is the
    typical record, used when the bundle stores no held-out example."""
    manifest = bundle.manifest
    example, held_out = default_record(bundle, example)
    config = {
        "features": [_field(f) for f in bundle.validator.features],
        "task": manifest.task,
        "output": manifest.output,
        "classes": bundle.classes,
        "interval": None if manifest.interval is None else manifest.interval.level,
        "example": example,
        "held_out": held_out,
        "example_label": manifest.example_label if held_out else None,
        "auth": auth,
    }
    fields = [
        {
            **_field(f),
            "options": [_shown(c) for c in f.categories or []] if f.kind != "numeric" else [],
        }
        for f in bundle.validator.features
    ]
    # Start-up time: Jinja2 is imported when the page is first asked for, not with the server.
    from skbundle.report import templates

    return templates.render(
        "page.html.j2",
        name=bundle.name,
        version=bundle.version,
        runtime=bundle.runtime.format,
        fields=fields,
        config=config,
        description=manifest.description,
        limits=limits(manifest),
        performance=performance(manifest),
        held_out=held_out,
        example_label=manifest.example_label if held_out else None,
        links={
            "report": _has(manifest, REPORT_NAME),
            "model_card": _has(manifest, MODEL_CARD_NAME),
        },
    )
