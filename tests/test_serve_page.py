"""The page at GET / in real headless Chromium (Debian's, driven by Playwright)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

import skbundle
from tests import chromium
from tests.conftest import Case
from tests.serve_live import Live, live_server

if not chromium.available():  # pragma: no cover - the project's machines have it
    pytest.skip(
        f"no Chromium at {chromium.CHROMIUM} (install Debian's 'chromium' or set "
        "SKBUNDLE_CHROMIUM)",
        allow_module_level=True,
    )

from playwright.sync_api import Page, expect


@pytest.fixture(scope="module")
def server(cancer: Case, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Live]:
    log = tmp_path_factory.mktemp("page") / "serve.log"
    with live_server(cancer.path, log, "--trust-pickle") as live:
        yield live


@pytest.fixture(scope="module")
def browser_page(server: Live) -> Iterator[Page]:
    with chromium.launch() as browser:
        yield browser.new_page(viewport={"width": 1280, "height": 900})


def test_fill_a_field_submit_and_see_the_predicted_class(
    browser_page: Page, server: Live, cancer: Case, tmp_path: Path
) -> None:
    page = browser_page
    page.goto(server.url + "/")
    expect(page.locator("h1")).to_contain_text("breast-cancer")
    # The default record is the held-out example stored in the bundle.
    example = skbundle.read_manifest(cancer.path).example
    assert example is not None
    assert float(page.input_value("input[name='mean radius']")) == example["mean radius"]
    # A clearly malignant record: the test row the pipeline is most sure is class 0.
    bundle = skbundle.load(cancer.path, trust_pickle=True)
    proba = bundle.predict_proba(cancer.X_test)
    row = cancer.X_test.iloc[int(proba[:, 0].argmax())]
    for name, value in row.items():
        page.fill(f"input[name='{name}']", repr(float(value)))
    page.click("#predict")
    expect(page.locator("#label")).to_have_text("malignant")
    expect(page.locator("#status")).to_have_text("HTTP 200")
    bars = page.locator("#bars .bar")
    expect(bars).to_have_count(2)
    expect(page.locator(".bar.top")).to_have_attribute("data-class", "malignant")
    page.screenshot(path=str(tmp_path / "page-result.png"), full_page=True)


def test_a_bad_value_is_shown_next_to_its_field(
    browser_page: Page, server: Live, tmp_path: Path
) -> None:
    page = browser_page
    page.goto(server.url + "/")
    page.fill("input[name='mean texture']", "twelve")
    page.fill("input[name='worst area']", "")
    page.click("#predict")
    texture = page.locator(".field[data-field='mean texture']")
    expect(texture).to_have_class("field invalid")
    expect(texture.locator(".err")).to_have_text(
        "got a string 'twelve'; expected a number, not a string"
    )
    expect(page.locator(".field[data-field='worst area'] .err")).to_have_text(
        "got a missing value (null or NaN); expected a number (this feature had no missing "
        "values in training, so none are accepted)"
    )
    expect(page.locator(".field[data-field='mean radius']")).to_have_class("field")
    expect(page.locator("#status")).to_have_text("HTTP 422")
    expect(page.locator("#answer")).to_be_hidden()
    expect(page.locator("#general")).to_have_text("2 problems: see the highlighted fields.")
    page.screenshot(path=str(tmp_path / "page-errors.png"), full_page=True)
    # Fixing the value clears the error and predicts again.
    page.click("#reset")
    page.click("#predict")
    expect(page.locator("#status")).to_have_text("HTTP 200")
    expect(texture).to_have_class("field")


def test_docs_render_offline_with_the_schema_example(browser_page: Page, server: Live) -> None:
    page = browser_page
    outside: list[str] = []
    page.on(
        "request",
        lambda r: outside.append(r.url) if not r.url.startswith(server.url) else None,
    )
    page.goto(server.url + "/docs")
    predict = page.locator(".opblock-summary-path", has_text="/predict").first
    expect(predict).to_be_visible()
    predict.click()
    expect(page.locator(".opblock-body").first).to_contain_text("mean radius")
    assert outside == []


def _precision6(x: float) -> str:
    """JavaScript's ``Number(x).toPrecision(6)`` for values the page shows: six significant
    digits, trailing zeros kept (4630.70), no trailing point."""
    return f"{x:#.6g}".rstrip(".")


def test_a_regressor_page_takes_categories_from_selects_and_shows_the_interval(
    browser_page: Page, tmp_path_factory: pytest.TempPathFactory, tmp_path: Path
) -> None:
    from tests import zoo
    from tests.test_serve_categorical import RIDGE, save_fitted

    fitted = zoo.case(RIDGE).build()
    path = save_fitted(fitted, tmp_path_factory.mktemp("page-ridge") / RIDGE, RIDGE)
    bundle = skbundle.load(path)
    # The page starts from the bundle's held-out example; the test changes two fields of it.
    assert bundle.manifest.example is not None
    record = {**bundle.manifest.example, "species": "Gentoo", "sex": None}
    expected = bundle.predict(record)[0]
    with live_server(path, tmp_path / "serve.log") as live:
        page = browser_page  # the module's browser: one Playwright per thread
        page.goto(live.url + "/")
        expect(page.locator("select[name='species'] option")).to_have_text(
            ["Adelie", "Chinstrap", "Gentoo"]
        )
        expect(page.locator("select[name='sex'] option")).to_have_text(
            ["(missing)", "female", "male"]
        )
        page.select_option("select[name='species']", label="Gentoo")
        page.select_option("select[name='sex']", label="(missing)")
        page.click("#predict")
        expect(page.locator("#status")).to_have_text("HTTP 200")
        expect(page.locator("#label")).to_have_text(_precision6(expected["prediction"]))
        low, high = (_precision6(v) for v in expected["interval"])
        expect(page.locator("#interval")).to_have_text(f"90% interval {low} to {high}")
        expect(page.locator("#bars .bar")).to_have_count(0)
        page.screenshot(path=str(tmp_path / "page-regressor.png"), full_page=True)
