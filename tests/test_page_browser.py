"""The page for the people who use the model, in real headless Chromium at a desktop and a
phone width: where the answer sits, the default record, the help text, the links.

Screenshots of each view are saved in the test's temporary directory (``--basetemp`` to keep
them somewhere known).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

import skbundle
from tests import chromium, page_fixtures
from tests.serve_live import Live, live_server

if not chromium.available():  # pragma: no cover - the project's machines have it
    pytest.skip(
        f"no Chromium at {chromium.CHROMIUM} (install Debian's 'chromium' or set "
        "SKBUNDLE_CHROMIUM)",
        allow_module_level=True,
    )

from playwright.sync_api import Browser, Page, expect

DESKTOP = {"width": 1280, "height": 900}
PHONE = {"width": 390, "height": 844}


@pytest.fixture(scope="module")
def described(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return page_fixtures.described_bundle(tmp_path_factory)


@pytest.fixture(scope="module")
def server(described: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Live]:
    log = tmp_path_factory.mktemp("page-browser") / "serve.log"
    with live_server(described, log) as live:
        yield live


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with chromium.launch() as b:
        yield b


def _open(browser: Browser, server: Live, viewport: dict[str, int]) -> Page:
    page = browser.new_page(viewport=viewport)  # type: ignore[arg-type]
    page.goto(server.url + "/")
    expect(page.locator("h1")).to_contain_text("breast-cancer")
    return page


def _box(page: Page, selector: str) -> dict[str, Any]:
    box = page.locator(selector).bounding_box()
    assert box is not None, f"{selector} is not laid out"
    return dict(box)


def test_on_a_desktop_the_answer_is_beside_the_form(
    browser: Browser, server: Live, tmp_path: Path
) -> None:
    page = _open(browser, server, DESKTOP)
    page.screenshot(path=str(tmp_path / "desktop.png"), full_page=True)
    form, result = _box(page, "#record"), _box(page, "#result")
    assert result["x"] >= form["x"] + form["width"], (form, result)  # to its right
    assert result["y"] < form["y"] + form["height"] and form["y"] < result["y"] + result["height"]
    assert result["y"] + result["height"] <= DESKTOP["height"]  # in the first screen
    page.click("#predict")
    expect(page.locator("#label")).to_have_text("malignant")
    expect(page.locator("#truth")).to_have_text("True label of this held-out case: malignant")
    page.screenshot(path=str(tmp_path / "desktop-result.png"), full_page=False)
    page.fill("input[name='mean radius']", "14")
    page.click("#predict")
    expect(page.locator("#status")).to_have_text("HTTP 200")
    expect(page.locator("#truth")).to_be_hidden()  # no longer the held-out case
    page.close()


def test_on_a_phone_the_answer_is_above_the_form(
    browser: Browser, server: Live, tmp_path: Path
) -> None:
    page = _open(browser, server, PHONE)
    page.screenshot(path=str(tmp_path / "phone.png"), full_page=True)
    form, result = _box(page, "#record"), _box(page, "#result")
    assert result["y"] + result["height"] <= form["y"], (form, result)
    assert result["width"] <= PHONE["width"] and form["width"] <= PHONE["width"]
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= PHONE["width"], f"the page scrolls sideways on a phone: {width}px wide"
    # A Predict button is on the first screen, with the answer: no scrolling past 30 fields.
    button = _box(page, "#predict-here")
    assert button["y"] + button["height"] <= PHONE["height"], button
    page.click("#predict-here")
    expect(page.locator("#label")).to_have_text("malignant")
    label = _box(page, "#label")
    assert 0 <= label["y"] <= PHONE["height"], label
    page.screenshot(path=str(tmp_path / "phone-result.png"), full_page=False)
    # The form's own button, at the end of the fields, brings the answer back into view.
    page.fill("input[name='worst area']", "500")
    page.click("#predict")
    expect(page.locator("#status")).to_have_text("HTTP 200")
    page.wait_for_function("document.getElementById('result').getBoundingClientRect().top >= -1")
    label = _box(page, "#label")
    assert 0 <= label["y"] <= PHONE["height"], label
    page.close()


def test_the_default_record_is_the_stored_held_out_case(
    browser: Browser, server: Live, described: Path
) -> None:
    manifest = skbundle.read_manifest(described)
    assert manifest.example is not None and manifest.example_label == "malignant"
    page = _open(browser, server, DESKTOP)
    for name, value in manifest.example.items():
        shown = page.input_value(f"input[name='{name}']")
        assert float(shown) == value, f"{name}: the form shows {shown}, the example has {value}"
    typical = skbundle.load(described).validator.example()
    assert typical["mean radius"] != manifest.example["mean radius"]  # not the training means
    expect(page.locator("#origin")).to_contain_text("a real held-out case")
    expect(page.locator("#true-label")).to_have_text("malignant")
    expect(page.locator("#reset")).to_have_text("Reset to the held-out case")
    page.fill("input[name='mean radius']", "7")
    page.click("#reset")
    assert float(page.input_value("input[name='mean radius']")) == manifest.example["mean radius"]
    page.close()


def test_descriptions_limits_and_the_expert_judgement_line_are_shown(
    browser: Browser, server: Live, described: Path
) -> None:
    manifest = skbundle.read_manifest(described)
    page = _open(browser, server, DESKTOP)
    for i, f in enumerate(manifest.features):
        assert f.description, f"{f.name} has no description"
        expect(page.locator(f"#d{i}")).to_have_text(f.description)
        assert page.get_attribute(f"#f{i}", "aria-describedby") == f"d{i}"
    worst = page.locator(".field[data-field='worst radius'] .desc")
    expect(worst).to_contain_text("the mean of the three largest values")
    expect(page.locator(".field[data-field='radius error'] .desc")).to_contain_text(
        "Standard error"
    )
    limits = page.locator("#limits")
    expect(limits).to_contain_text("not a substitute for expert judgement")
    expect(limits).to_contain_text("Reliable only within the ranges seen in training")
    expect(page.locator("#performance")).to_contain_text("malignant cases found (sensitivity")
    page.close()


def test_the_links_to_the_model_card_and_the_report_resolve(
    browser: Browser, server: Live, described: Path, tmp_path: Path
) -> None:
    page = _open(browser, server, DESKTOP)
    card = page.get_attribute("#link-model-card", "href")
    report = page.get_attribute("#link-report", "href")
    assert (card, report) == ("/model-card", "/report")
    response = httpx.get(server.url + card)
    assert response.status_code == 200
    assert response.content == (described / "model_card.md").read_bytes()
    assert response.headers["content-type"] == "text/plain; charset=utf-8"
    page.click("#link-report")
    expect(page.locator("h1")).to_contain_text("breast-cancer")
    # The report's policy lets its data: images load and nothing else.
    loaded = page.evaluate("[...document.images].map((i) => i.naturalWidth)")
    assert len(loaded) == 5 and all(w > 0 for w in loaded), loaded
    expect(page.locator(".positive")).to_contain_text("Positive class: malignant")
    page.screenshot(path=str(tmp_path / "report.png"), full_page=False)
    page.close()
