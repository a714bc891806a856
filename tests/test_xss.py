"""Stored XSS: a forged bundle's text reaches every page and the model card only as text.

The manifest (and ``readiness.json``) of a forged bundle is attacker-written: its description,
feature and class names, pipeline steps, environment and the free-form ``benchmarks`` section
carry script, event-handler, link and table-breaking payloads here. Each page is rendered the
way skbundle renders it (``refresh`` for report.html and model_card.md, ``drift_page`` for the
drift page, the real app's ``GET /``), parsed, and opened in real Chromium.
"""

from __future__ import annotations

import dataclasses
import re
import shutil
from collections.abc import Iterator
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import orjson
import pytest
from markdown_it import MarkdownIt
from starlette.testclient import TestClient

import skbundle
from skbundle.core.layout import READINESS_NAME
from skbundle.core.manifest import read_manifest, write_manifest
from skbundle.monitor import DriftReport, drift
from skbundle.readiness.refresh import refresh
from skbundle.report import drift_page
from skbundle.serve import create_app

from . import chromium
from .conftest import Case
from .tampering import rehash
from .zoo_bundles import CATEGORICAL, zoo_bundle

SCRIPT = "<script>alert(1)</script>"
IMG = "<img src=x onerror=alert(1)>"
LINK = "x](javascript:alert(1))"
CELL = "a | col"
CLOSE = "</script><script>alert(2)</script>"
DESCRIPTION = f"Evil {SCRIPT} {IMG} [click{LINK[1:]} {CELL}\n# not a heading"
NAMES = [SCRIPT, IMG, LINK, CELL]
"""The first four feature names of the forged bundle."""
CLASSES = [IMG, CLOSE]

COMMONMARK = MarkdownIt("commonmark").enable("table")


def _html_text(text: str) -> str:
    """``text`` as Jinja's autoescape writes it."""
    return (
        text.replace("&", "&amp;")
        .replace("<", "&lt;")
        .replace(">", "&gt;")
        .replace('"', "&#34;")
        .replace("'", "&#39;")
    )


class _Tags(HTMLParser):
    """Every start tag of a document, with its attributes, and the text of its scripts."""

    def __init__(self, document: str) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.scripts: list[str] = []
        self._in_script = False
        self.feed(document)
        self.close()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))
        self._in_script = tag == "script"
        if self._in_script:
            self.scripts.append("")

    def handle_endtag(self, tag: str) -> None:
        self._in_script = False

    def handle_data(self, data: str) -> None:
        if self._in_script:
            self.scripts[-1] += data


def assert_inert(document: str, *, scripts: int = 0) -> _Tags:
    """No payload became markup: no event handler, no javascript: URL, no injected element."""
    parsed = _Tags(document)
    handlers = [(t, a) for t, a in parsed.tags for name in a if name.startswith("on")]
    assert handlers == []
    urls = [v for _, a in parsed.tags for k, v in a.items() if k in ("href", "src") and v]
    assert [u for u in urls if u.strip().lower().startswith("javascript:")] == []
    assert [t for t, a in parsed.tags if t == "img" and a.get("src") == "x"] == []
    assert len(parsed.scripts) == scripts  # an injected <script> would be one more
    assert re.search(r"<script>alert|<img src=x", document) is None
    return parsed


@pytest.fixture
def forged(bundle_copy: Path) -> Path:
    """The demo bundle with every free-text field of its manifest and readiness data forged."""
    m = read_manifest(bundle_copy)
    features = [
        f.model_copy(update={"name": name}) if name else f
        for f, name in zip(m.features, [*NAMES, *[None] * len(m.features)], strict=False)
    ]
    # Every feature's description and unit, the example's true label and the positive class
    # are attacker-written too.
    features = [
        f.model_copy(update={"description": f"{DESCRIPTION} {CLOSE}", "unit": IMG})
        for f in features
    ]
    renamed = dict(zip([f.name for f in m.features], [f.name for f in features], strict=True))
    metrics = {**m.metrics, "test": {**m.metrics["test"]}}
    metrics["test"]["positive"] = {**metrics["test"]["positive"], "class": CLOSE}
    write_manifest(
        bundle_copy,
        m.model_copy(
            update={
                "description": DESCRIPTION,
                "features": features,
                "example": {renamed[k]: v for k, v in (m.example or {}).items()},
                "example_label": SCRIPT,
                "positive_class": CLOSE,
                "metrics": metrics,
                "classes": CLASSES,
                "pipeline": [f"`x` {SCRIPT}", *m.pipeline[1:]],
                "created_at": IMG,
                "environment": m.environment.model_copy(
                    update={"python": SCRIPT, "platform": LINK}
                ),
                "benchmarks": {
                    "measured_at": IMG,
                    "n": SCRIPT,
                    "machine": {"cpus": IMG, "platform": CELL, "python": LINK},
                    "runtimes": {},
                },
            }
        ),
    )
    path = bundle_copy / READINESS_NAME
    data = orjson.loads(path.read_bytes())
    data["importance"]["method"] = SCRIPT
    data["importance"]["features"][:4] = [[name, 0.5] for name in NAMES]
    path.write_bytes(orjson.dumps(data))
    rehash(bundle_copy, READINESS_NAME)
    refresh(bundle_copy)
    return bundle_copy


# -- report.html ----------------------------------------------------------------------------
def test_report_html_shows_forged_text_escaped(forged: Path) -> None:
    page = (forged / "report.html").read_text(encoding="utf-8")
    parsed = assert_inert(page)
    assert [t for t, _ in parsed.tags if t == "img"] == ["img"] * 5  # the real figures only
    # Each payload is there, as text.
    assert f"<p>{_html_text(DESCRIPTION)}</p>" in page
    assert (
        f"Measured {_html_text(IMG)}, {_html_text(SCRIPT)} single-row calls, on "
        f"{_html_text(CELL)} ({_html_text(IMG)} CPUs), Python {_html_text(LINK)}."
    ) in page
    assert f'<th class="num">{_html_text(CLOSE)}</th>' in page
    assert f"Method: {_html_text(SCRIPT)}." in page
    assert f"<td>{_html_text(f'{DESCRIPTION} {CLOSE}')}</td><td>{_html_text(IMG)}</td>" in page
    assert f'alt="ROC curve for {_html_text(CLOSE)} (the positive class)"' in page
    assert f"<p>Positive class: {_html_text(CLOSE)} (named when the bundle was saved)." in page


# -- model_card.md --------------------------------------------------------------------------
def test_model_card_renders_forged_text_as_text(forged: Path) -> None:
    card = (forged / "model_card.md").read_text(encoding="utf-8")
    assert card.splitlines()[2] == (
        r"Evil \<script\>alert\(1\)\</script\> \<img src=x onerror=alert\(1\)\> "
        r"\[click\]\(javascript:alert\(1\)\) a \| col # not a heading"
    )
    assert "- Pipeline: `` `x` <script>alert(1)</script> `` -> " in card
    html = COMMONMARK.render(card)
    assert_inert(html)
    assert [t for t, _ in _Tags(html).tags if t in ("a", "img", "h1")] == ["h1"]
    assert (
        "<p>Evil &lt;script&gt;alert(1)&lt;/script&gt; &lt;img src=x onerror=alert(1)&gt; "
        "[click](javascript:alert(1)) a | col # not a heading</p>"
    ) in html


def test_model_card_feature_table_keeps_its_columns(forged: Path) -> None:
    card = (forged / "model_card.md").read_text(encoding="utf-8")
    html = COMMONMARK.render(card)
    table = html[html.index("<th>feature</th>") :]
    table = table[: table.index("</table>")]
    rows = re.findall(r"<tr>\n(.*?)</tr>", table, flags=re.S)
    assert len(rows) == 30
    assert {row.count("<td>") for row in rows} == {7}  # feature, description, unit, 4 figures
    first = [re.findall(r"<td>(.*?)</td>", row)[0] for row in rows[:4]]
    assert first == [n.replace("<", "&lt;").replace(">", "&gt;") for n in NAMES]


# -- the drift page -------------------------------------------------------------------------
def _forged_report(cancer: Case) -> DriftReport:
    bundle = skbundle.load(cancer.path)
    shifted = cancer.X_test.copy()
    shifted["mean radius"] += 2 * cancer.X_train["mean radius"].std()
    report = drift(bundle, shifted, cancer.y_test)
    assert report.features[0].name == "mean radius" and report.features[0].level != "ok"
    rename = dict(zip(report.prediction.psi, CLASSES, strict=True))

    def keys(d: dict[str, Any]) -> dict[str, Any]:
        return {rename[k]: v for k, v in d.items()}

    p = report.prediction
    prediction = dataclasses.replace(
        p,
        **{
            name: keys(getattr(p, name))
            for name in (
                "psi",
                "reference_balance",
                "current_balance",
                "balance_change",
                "reference_share",
                "current_share",
            )
        },
    )
    features = [
        dataclasses.replace(f, name=n)
        for f, n in zip(report.features, NAMES + [f.name for f in report.features[4:]], strict=True)
    ]
    return dataclasses.replace(
        report,
        bundle=SCRIPT,
        version=IMG,
        source=f"{LINK}.csv",
        features=features,
        prediction=prediction,
        notes=[*report.notes, CLOSE],
    )


def test_drift_page_shows_forged_text_escaped(cancer: Case) -> None:
    page = drift_page.render(_forged_report(cancer))
    parsed = assert_inert(page)
    alts = [a["alt"] for t, a in parsed.tags if t == "img"]
    assert alts == [
        f"reference vs current histogram of {SCRIPT}",
        f"predicted probability of {IMG}",
        f"predicted probability of {CLOSE}",
    ]
    assert f"<h1>Drift report: {_html_text(SCRIPT)} {_html_text(IMG)}</h1>" in page
    assert f"Source: {_html_text(LINK)}.csv;" in page
    assert f'<li class="note">{_html_text(CLOSE)}</li>' in page


# -- the served page ------------------------------------------------------------------------
def test_served_page_shows_forged_text_escaped(forged: Path) -> None:
    with TestClient(create_app(forged)) as client:
        page = client.get("/").text
    parsed = assert_inert(page, scripts=2)
    assert f"<h1>{_html_text(read_manifest(forged).name)} " in page
    assert f"Classes: {_html_text(IMG)}, {_html_text(CLOSE)} &middot;" in page
    template = (Path(skbundle.__file__).parent / "report/templates/page.html.j2").read_text("utf-8")
    assert "\n<script>" + parsed.scripts[1] + "</script>" in template  # the page's own code
    config = orjson.loads(parsed.scripts[0])
    assert [f["name"] for f in config["features"][:4]] == NAMES
    assert config["classes"] == CLASSES
    assert r'"classes":["\u003cimg src=x onerror=alert(1)\u003e","\u003c/script\u003e' in page


# -- real Chromium --------------------------------------------------------------------------
@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    with chromium.launch() as browser:
        yield browser


def _open(browser: Any, load: Any) -> tuple[list[str], Any]:
    """A new page with every dialog (alert, confirm, prompt) recorded and dismissed."""
    page = browser.new_page()
    dialogs: list[str] = []

    def record(dialog: Any) -> None:
        dialogs.append(dialog.message)
        dialog.dismiss()

    page.on("dialog", record)
    load(page)
    page.wait_for_timeout(300)  # an onerror handler fires once the broken image fails
    return dialogs, page


def test_forged_report_fires_no_dialog_in_chromium(forged: Path, browser: Any) -> None:
    dialogs, page = _open(browser, lambda p: p.goto((forged / "report.html").as_uri()))
    try:
        text = page.inner_text("body")
        shown = page.eval_on_selector_all("img", "els => els.map(e => e.naturalWidth)")
    finally:
        page.close()
    assert dialogs == []
    assert f"Evil {SCRIPT} {IMG}" in text
    assert f"({IMG} CPUs)" in text
    assert shown == [800] * 5


def test_forged_drift_page_fires_no_dialog_in_chromium(cancer: Case, browser: Any) -> None:
    document = drift_page.render(_forged_report(cancer))
    dialogs, page = _open(browser, lambda p: p.set_content(document))
    try:
        heading = page.inner_text("h1")
    finally:
        page.close()
    assert dialogs == []
    assert heading == f"Drift report: {SCRIPT} {IMG}"


def test_forged_served_page_fires_no_dialog_in_chromium(forged: Path, browser: Any) -> None:
    with TestClient(create_app(forged)) as client:
        document = client.get("/").text
    dialogs, page = _open(browser, lambda p: p.set_content(document))
    try:
        labels = page.eval_on_selector_all(".field label", "els => els.map(e => e.textContent)")
        descriptions = page.eval_on_selector_all(".desc", "els => els.map(e => e.textContent)")
        truth = page.inner_text("#true-label")
        title = page.title()
    finally:
        page.close()
    assert dialogs == []
    assert labels[1:5] == [f"{n} ({IMG})" for n in NAMES]  # the first label is the API key's
    assert title.startswith(f"{read_manifest(forged).name} ")
    assert set(descriptions) == {f"{DESCRIPTION} {CLOSE}"}
    assert truth == SCRIPT


def test_checklist_markdown_renders_forged_text_as_text() -> None:
    """checklist.md quotes the bundle in titles and evidence (a probe's error message can
    carry a feature name): every one is escaped, and nothing becomes a link, image or block."""
    from skbundle.report.checklist import PASS, Checklist, Item, to_markdown

    items = [
        Item("model", "metrics", f"Title {SCRIPT}", PASS, f"evidence {IMG} [x{LINK[1:]} {CELL}"),
        Item("data", "schema", "Schema", "fail", f"{CLOSE}\n# heading"),
    ]
    markdown = to_markdown(Checklist(f"b{SCRIPT}", "1.0.0", "now", items))
    html = COMMONMARK.render(markdown)
    assert_inert(html)
    assert [t for t, _ in _Tags(html).tags if t in ("a", "img")] == []
    assert [t for t, _ in _Tags(html).tags if t in ("h1", "h2")] == ["h1", "h2", "h2"]
    assert "evidence &lt;img src=x onerror=alert(1)&gt; [x](javascript:alert(1)) a | col" in html


# -- category values -------------------------------------------------------------------------
CATEGORIES = [SCRIPT, IMG, LINK, CELL, CLOSE]


@pytest.fixture
def forged_categories(tmp_path_factory: pytest.TempPathFactory, tmp_path: Path) -> Path:
    """A categorical bundle whose first categorical feature lists attacker-written categories
    (bundle.json is not hashed: whoever can write the bundle can write these)."""
    path = tmp_path / "categories"
    shutil.copytree(zoo_bundle(tmp_path_factory, CATEGORICAL), path)
    m = read_manifest(path)
    features = [
        f.model_copy(update={"categories": CATEGORIES}) if f.name == "island" else f
        for f in m.features
    ]
    write_manifest(path, m.model_copy(update={"features": features}))
    refresh(path)
    return path


def test_category_values_reach_the_report_as_text(forged_categories: Path) -> None:
    page = (forged_categories / "report.html").read_text(encoding="utf-8")
    assert_inert(page)
    shown = ", ".join(_html_text(c) for c in CATEGORIES)
    assert f"<tr><td>island</td><td>categorical (5)</td><td>{shown}</td>" in page


def test_category_values_reach_the_model_card_as_text(forged_categories: Path) -> None:
    card = (forged_categories / "model_card.md").read_text(encoding="utf-8")
    assert (
        r"| island | categorical (5) | \<script\>alert\(1\)\</script\>, \<img src=x "
        r"onerror=alert\(1\)\>, x\]\(javascript:alert\(1\)\), a \| col, "
        r"\</script\>\<script\>alert\(2\)\</script\> | accepted, with a warning | refused |"
    ) in card
    html = COMMONMARK.render(card)
    assert_inert(html)
    table = html[html.index("<th>unseen category</th>") :]
    row = re.search(r"<tr>\n<td>island</td>\n(.*?)</tr>", table, flags=re.S)
    assert row is not None
    assert row.group(1).count("<td>") == 4  # the "|" inside a category did not split a cell


def test_forged_categories_fire_no_dialog_in_chromium(
    forged_categories: Path, browser: Any
) -> None:
    dialogs, page = _open(browser, lambda p: p.goto((forged_categories / "report.html").as_uri()))
    try:
        text = page.inner_text("body")
    finally:
        page.close()
    assert dialogs == []
    assert ", ".join(CATEGORIES) in text
