"""The page's content and the documents the server shows, without a browser: the default
record, the limits, the routes ``/report`` and ``/model-card`` and what they refuse."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from starlette.testclient import TestClient

import skbundle
from skbundle.core.manifest import read_manifest, write_manifest
from skbundle.report.model_card import NOT_A_SUBSTITUTE
from skbundle.serve import create_app, page
from tests.conftest import Case

OLD = Path(__file__).parent / "data" / "bundles" / "skbundle-0.1.0" / "iris-forest"
CSP = (
    "default-src 'none'; img-src data:; style-src 'unsafe-inline'; base-uri 'none'; "
    "form-action 'none'; frame-ancestors 'none'"
)


def test_the_page_starts_from_the_stored_example_and_says_so(cancer: Case) -> None:
    bundle = skbundle.load(cancer.path)
    example = bundle.manifest.example
    assert example is not None and bundle.manifest.example_label in ("malignant", "benign")
    record, held_out = page.default_record(bundle, bundle.validator.example())
    assert held_out and record == example
    html = page.render(bundle, bundle.validator.example(), auth=False)
    assert "Pre-filled with a real held-out case" in html
    assert f'<b id="true-label">{bundle.manifest.example_label}</b>' in html
    assert f"<li>{NOT_A_SUBSTITUTE}</li>" in html


def test_a_bundle_without_an_example_starts_from_a_typical_record(cancer: Case) -> None:
    bundle = skbundle.load(cancer.path)
    bundle.manifest = bundle.manifest.model_copy(update={"example": None})
    typical = bundle.validator.example()
    assert page.default_record(bundle, typical) == (typical, False)
    html = page.render(bundle, typical, auth=False)
    assert "Pre-filled with a typical record: training means, first categories." in html
    assert 'id="true-label"' not in html and "Reset to typical" in html


def test_an_example_the_validator_refuses_is_not_used(cancer: Case) -> None:
    bundle = skbundle.load(cancer.path)
    bad = dict(bundle.manifest.example or {}, **{"mean radius": "large"})
    bundle.manifest = bundle.manifest.model_copy(update={"example": bad})
    typical = bundle.validator.example()
    assert page.default_record(bundle, typical) == (typical, False)


def test_a_version_1_bundle_serves_its_page_with_limits_and_no_broken_links(
    tmp_path: Path,
) -> None:
    copy = tmp_path / "old"
    shutil.copytree(OLD, copy)
    with TestClient(create_app(skbundle.load(copy, trust_pickle=True))) as client:
        html = client.get("/").text
        assert "Pre-filled with a typical record" in html
        assert NOT_A_SUBSTITUTE in html
        links = [p for p in page.DOCUMENTS if f'href="{p}"' in html]
        for path in links:
            assert client.get(path).status_code == 200, path


def test_the_documents_are_the_verified_files_under_a_strict_policy(cancer: Case) -> None:
    with TestClient(create_app(cancer.path)) as client:
        report = client.get("/report")
        card = client.get("/model-card")
    assert report.status_code == card.status_code == 200
    assert report.content == (cancer.path / "report.html").read_bytes()
    assert card.content == (cancer.path / "model_card.md").read_bytes()
    assert report.headers["content-type"] == "text/html; charset=utf-8"
    assert card.headers["content-type"] == "text/plain; charset=utf-8"
    for response in (report, card):
        assert response.headers["content-security-policy"] == CSP
        assert response.headers["x-content-type-options"] == "nosniff"


@pytest.mark.parametrize("route", ["/report", "/model-card"])
def test_a_document_changed_after_load_is_not_shown(bundle_copy: Path, route: str) -> None:
    name = page.DOCUMENTS[route][0]
    with TestClient(create_app(bundle_copy)) as client:
        (bundle_copy / name).write_bytes(b"<script>alert(1)</script>")
        response = client.get(route)
    assert response.status_code == 404
    assert b"alert" not in response.content
    assert response.json()["error"] == "no_such_endpoint"


def test_a_document_the_bundle_does_not_list_is_not_found(bundle_copy: Path) -> None:
    (bundle_copy / "report.html").unlink()  # an unlisted file would fail verification
    m = read_manifest(bundle_copy)
    write_manifest(
        bundle_copy,
        m.model_copy(update={"artifacts": [a for a in m.artifacts if a.path != "report.html"]}),
    )
    with TestClient(create_app(bundle_copy)) as client:
        assert client.get("/report").status_code == 404
        assert 'href="/report"' not in client.get("/").text
        assert client.get("/model-card").status_code == 200
