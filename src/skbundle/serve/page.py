"""The page at ``GET /``: try the model in a browser.

One self-contained HTML document (inline CSS and JavaScript, no external assets): a form
with every feature, pre-filled with a typical record (training means), a button that calls
``POST /predict``, the predicted class with a probability bar per class, and each validation
problem shown next to its field. Values are sent as typed; the server's validator, not the
page, decides what is wrong, so the page shows exactly what an API client would get.

The page is ``report/templates/page.html.j2``, rendered like every other page by
:func:`skbundle.report.templates.render`; what the script needs arrives as JSON in a
``<script type="application/json">`` element, and the script writes every name it shows with
``textContent``, never as markup.
"""

from __future__ import annotations

from typing import Any

from skbundle.bundle import Bundle


def _range(spec: Any) -> str:
    if spec.min is None:
        return "no training values"
    return f"training range {spec.min:.4g} to {spec.max:.4g}"


def render(bundle: Bundle, example: dict[str, float], *, auth: bool) -> str:
    """The page for ``bundle``; computed once when the app starts."""
    config = {
        "features": [
            {"name": f.name, "range": _range(f), "missing_allowed": f.missing_allowed}
            for f in bundle.validator.features
        ],
        "classes": bundle.classes,
        "example": example,
        "auth": auth,
    }
    # Start-up time: Jinja2 is imported when the page is first asked for, not with the server.
    from skbundle.report import templates

    return templates.render(
        "page.html.j2",
        name=bundle.name,
        version=bundle.version,
        runtime=bundle.runtime.format,
        config=config,
    )
