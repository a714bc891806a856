"""The one way skbundle makes HTML: Jinja2 templates shipped in ``report/templates/``.

Every page (``report.html``, the drift page, the server's page at ``GET /``) renders through
:func:`render`, from one :class:`jinja2.Environment` made once at import. Autoescaping is on
for every template, so anything taken from a bundle (a description, a feature or class name,
a benchmark field) reaches the page as text, never as markup; ``StrictUndefined`` turns a
misspelt variable into an error instead of an empty string. Data for a ``<script>`` block
goes through Jinja's ``tojson`` filter (serialized here by orjson), which also escapes
``<``, ``>``, ``&`` and ``'`` so no value can close the element.

Every page inlines the one stylesheet, ``skbundle.css`` (``{% include "skbundle.css" %}``):
the pages stay self-contained files that fetch nothing.
"""

from __future__ import annotations

import base64
from typing import Any

import jinja2
import orjson

__all__ = ["ENVIRONMENT", "fmt", "png_uri", "render"]


def png_uri(png: bytes) -> str:
    """PNG bytes as a ``data:`` URI, so an image is part of the page rather than a fetch."""
    return "data:image/png;base64," + base64.b64encode(png).decode("ascii")


def fmt(value: float | None, spec: str = ".3f") -> str:
    """A number in ``spec`` (Python's format mini-language), or an en dash when missing."""
    return "–" if value is None else format(value, spec)


def _dumps(value: Any, **_: Any) -> str:
    # orjson, as the server's JSON everywhere else: NaN becomes null, never invalid JSON.
    return orjson.dumps(value).decode()


def _environment() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("skbundle.report", "templates"),
        autoescape=jinja2.select_autoescape(
            enabled_extensions=("html", "html.j2"), default_for_string=True, default=True
        ),
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["png_uri"] = png_uri
    env.filters["fmt"] = fmt
    env.policies["json.dumps_function"] = _dumps
    env.policies["json.dumps_kwargs"] = {}
    return env


ENVIRONMENT = _environment()
"""The environment every page renders in; its templates are compiled on first use."""


def render(name: str, /, **context: Any) -> str:
    """Render the template ``name`` (e.g. ``"report.html.j2"``) with ``context``.

    Parameters
    ----------
    name
        A file in ``skbundle/report/templates/``.
    **context
        The template's variables (any names, ``name`` too); every one it uses must be
        given (``StrictUndefined``).

    Returns
    -------
    str
        The page, every interpolated value HTML-escaped.

    Raises
    ------
    jinja2.UndefinedError
        If the template uses a variable that is not in ``context``.

    Examples
    --------
    >>> from skbundle.report import templates
    >>> templates.ENVIRONMENT.from_string("<p>{{ x }}</p>").render(x="<b>")
    '<p>&lt;b&gt;</p>'
    """
    return ENVIRONMENT.get_template(name).render(**context)
