"""The one HTML path: an autoescaping, strict Jinja2 environment; one stylesheet; figures
drawn without pyplot; no hand-placed escaping left in the library."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import jinja2
import pytest

import skbundle
from skbundle.report import plots, templates

from .readiness_helpers import png_size

SRC = Path(skbundle.__file__).parent
TEMPLATES = SRC / "report" / "templates"
PAGES = ["base.html.j2", "drift.html.j2", "macros.html.j2", "page.html.j2", "report.html.j2"]


def test_every_template_is_autoescaped() -> None:
    names = templates.ENVIRONMENT.list_templates()
    assert sorted(n for n in names if n.endswith(".html.j2")) == PAGES
    assert {name: templates.ENVIRONMENT.autoescape(name) for name in names} == dict.fromkeys(
        names, True
    )
    assert templates.ENVIRONMENT.from_string("{{ x }}").render(x="<b>&'\"") == (
        "&lt;b&gt;&amp;&#39;&#34;"
    )


def test_a_missing_variable_is_an_error_not_an_empty_string() -> None:
    with pytest.raises(jinja2.UndefinedError, match=r"^'m' is undefined$"):
        templates.render("report.html.j2")


def test_tojson_cannot_close_a_script_element() -> None:
    out = templates.ENVIRONMENT.from_string("{{ v | tojson }}").render(
        v={"name": "</script><!--'&", "nan": float("nan")}
    )
    assert out == r'{"name":"\u003c/script\u003e\u003c!--\u0027\u0026","nan":null}'


def test_the_stylesheet_is_plain_text_to_jinja() -> None:
    """skbundle.css is included as a template: it must hold no Jinja delimiter."""
    css = (TEMPLATES / "skbundle.css").read_text(encoding="utf-8")
    assert templates.render("skbundle.css") == css.rstrip("\n")
    for page in ("drift.html.j2", "page.html.j2", "report.html.j2"):
        assert '{% extends "base.html.j2" %}' in (TEMPLATES / page).read_text(encoding="utf-8")
    assert '{% include "skbundle.css" %}' in (TEMPLATES / "base.html.j2").read_text("utf-8")


def test_templates_ship_as_package_data() -> None:
    pyproject = (SRC.parents[1] / "pyproject.toml").read_text(encoding="utf-8")
    assert '"report/templates/*"' in pyproject.split("[tool.setuptools.package-data]")[1]
    assert '"jinja2>=3.1",' in pyproject


def _imports(path: Path) -> set[str]:
    names = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            names |= {f"{node.module}.{alias.name}" for alias in node.names}
    return names


def test_no_hand_placed_html_escaping_or_pyplot_in_the_library() -> None:
    found = {
        str(path.relative_to(SRC)): sorted(
            name
            for name in _imports(path)
            if name == "html"
            or name.startswith(("html.", "markupsafe", "matplotlib.pyplot"))
            or name in ("jinja2.Markup", "matplotlib.pylab")
        )
        for path in sorted(SRC.rglob("*.py"))
    }
    assert {path: names for path, names in found.items() if names} == {}


def test_the_drift_charts_draw_without_pyplot() -> None:
    """In a fresh interpreter: drawing leaves pyplot (and its global figure list) unloaded."""
    code = (
        "import sys\n"
        "from skbundle.report import plots\n"
        "png = plots.shares_png('t', ['a', 'b'], [0.5, 0.5], [0.2, 0.8])\n"
        "assert png.startswith(b'\\x89PNG'), png[:8]\n"
        "print('matplotlib.pyplot' in sys.modules)\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=120
    )
    assert out.stdout == "False\n"


def test_shares_png_is_cropped_to_its_content() -> None:
    width, height = png_size(plots.shares_png("t", ["a", "b"], [0.5, 0.5], [0.2, 0.8]))
    # 7 x 2.8 inches at 80 dpi is 560 x 224 before the tight crop.
    assert 300 < width <= 560 and 150 < height <= 260
