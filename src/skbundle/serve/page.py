"""The page at ``GET /``: try the model in a browser.

One self-contained HTML document (inline CSS and JavaScript, no external assets): a form
with every feature, pre-filled with a typical record (training means, first categories), a
button that calls ``POST /predict``, the answer, and each validation problem shown next to its
field. A numeric feature is a text field; a categorical one a ``<select>`` of its categories,
a boolean one a ``<select>`` of false and true, each with an empty "(missing)" option where
the feature had missing values in training. The answer follows what the bundle predicts: the
class with a probability bar per class; the class and its decision scores; or a regressor's
value and its prediction interval. Values are sent as typed; the server's validator, not the
page, decides what is wrong, so the page shows exactly what an API client would get.

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
from skbundle.core.manifest import FeatureSpec


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
        "hint": _hint(spec),
        "range": _range(spec) if spec.kind == "numeric" else "",
        "missing_allowed": spec.missing_allowed,
        "categories": list(spec.categories or []) if spec.kind != "numeric" else None,
    }


def render(bundle: Bundle, example: dict[str, Any], *, auth: bool) -> str:
    """The page for ``bundle``; computed once, on its first request."""
    manifest = bundle.manifest
    config = {
        "features": [_field(f) for f in bundle.validator.features],
        "task": manifest.task,
        "output": manifest.output,
        "classes": bundle.classes,
        "interval": None if manifest.interval is None else manifest.interval.level,
        "example": example,
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
    )
