"""The server for every kind of bundle: categorical and boolean features, classifiers without
probabilities, regressors (issue 11). The app in process, on real pipelines of ``tests/zoo.py``
saved with :func:`skbundle.save`; every answer is compared with :meth:`Bundle.predict` on the
same records."""

from __future__ import annotations

import math
import re
from collections.abc import Iterator
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import numpy as np
import orjson
import pandas as pd
import pytest
from palmerpenguins import load_penguins
from sklearn.compose import ColumnTransformer
from sklearn.datasets import load_breast_cancer
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import train_test_split
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler
from sklearn.svm import SVC
from starlette.testclient import TestClient

import skbundle
from skbundle import Bundle
from skbundle.errors import MISSING, InputProblem, InputValidationError
from skbundle.serve import create_app
from skbundle.serve.metrics import value_buckets
from skbundle.serve.v2 import NUMERIC
from tests import zoo
from tests.zoo_bundles import save_fitted

FOREST = "penguins-onehot-forest"  # probabilities; unknown categories accepted; sex may miss
SVC_ERROR = "penguins-onehot-error-svc"  # labels + decision per class; unknowns refused
RIDGE = "penguins-mass-onehot-ridge"  # a regressor with an interval
BOOL = "penguins-bool-logistic"  # a boolean feature; unknown islands refused
INT_SVC = "cancer-int-svc"  # labels 0/1 (integers) with one decision score
EVIL = "penguins-evil-categories"  # category values holding markup
IDS = [FOREST, SVC_ERROR, RIDGE, BOOL, INT_SVC]

SCRIPT = "</script><script>alert(1)</script>"
IMG = "<img src=x onerror=alert(1)>"


def _int_svc() -> zoo.Fitted:
    data = load_breast_cancer(as_frame=True)
    X_train, X_test, y_train, y_test = train_test_split(
        data.data, data.target.to_numpy(), test_size=0.2, random_state=42, stratify=data.target
    )
    pipe = make_pipeline(StandardScaler(), SVC()).fit(X_train, y_train)
    return zoo.Fitted(pipe, X_train, y_train, X_test, y_test)


def _evil() -> zoo.Fitted:
    """Penguin islands renamed to markup, one-hot encoded, then a logistic regression."""
    df = load_penguins().dropna(subset=["bill_length_mm"]).copy()
    df["island"] = df["island"].replace({"Dream": SCRIPT, "Torgersen": IMG})
    X, y = df[["island", "bill_length_mm"]], df["species"].to_numpy()
    X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=0.2, random_state=42)
    prep = ColumnTransformer(
        [("island", OneHotEncoder(), ["island"]), ("num", StandardScaler(), ["bill_length_mm"])]
    )
    pipe = make_pipeline(prep, LogisticRegression(max_iter=1000)).fit(X_train, y_train)
    return zoo.Fitted(pipe, X_train, y_train, X_test, y_test)


@pytest.fixture(scope="session")
def fitted() -> dict[str, zoo.Fitted]:
    cases = {cid: zoo.case(cid).build() for cid in (FOREST, SVC_ERROR, RIDGE, BOOL)}
    return {**cases, INT_SVC: _int_svc(), EVIL: _evil()}


@pytest.fixture(scope="session")
def bundles(
    fitted: dict[str, zoo.Fitted], tmp_path_factory: pytest.TempPathFactory
) -> dict[str, Bundle]:
    root = tmp_path_factory.mktemp("serve-categorical")
    return {cid: skbundle.load(save_fitted(f, root / cid, cid)) for cid, f in fitted.items()}


@pytest.fixture(scope="session")
def clients(bundles: dict[str, Bundle]) -> Iterator[dict[str, TestClient]]:
    opened = {cid: TestClient(create_app(b)) for cid, b in bundles.items()}
    for c in opened.values():
        c.__enter__()
    yield opened
    for c in opened.values():
        c.__exit__(None, None, None)


def _json_value(value: Any) -> Any:
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and math.isnan(value):
        return None
    return None if value is pd.NA else value


def records(frame: pd.DataFrame, n: int = 12) -> list[dict[str, Any]]:
    """The first ``n`` rows as JSON records: NaN as null, numpy scalars as Python ones."""
    rows = frame.iloc[:n].astype(object).to_dict(orient="records")
    return [{str(k): _json_value(v) for k, v in row.items()} for row in rows]


def _post(client: TestClient, url: str, payload: Any) -> Any:
    return client.post(
        url, content=orjson.dumps(payload), headers={"content-type": "application/json"}
    )


def _served(results: Any) -> Any:
    """What /predict answers for ``Bundle.predict`` results: each names the version served."""
    if isinstance(results, dict):
        return {**results, "model_version": "1.0.0"}
    return [_served(r) for r in results]


# -- /predict --------------------------------------------------------------------------------
@pytest.mark.parametrize("cid", IDS)
def test_predict_answers_equal_bundle_predict(
    cid: str,
    clients: dict[str, TestClient],
    bundles: dict[str, Bundle],
    fitted: dict[str, zoo.Fitted],
) -> None:
    rows = records(fitted[cid].X_test)
    expected = _served(bundles[cid].predict(rows))
    response = _post(clients[cid], "/predict", rows)
    assert response.status_code == 200
    assert response.json() == expected
    # One record alone: the runtime may round a batch of one differently from a batch.
    assert _post(clients[cid], "/predict", rows[0]).json() == _served(
        bundles[cid].predict(rows[0])[0]
    )


def test_each_output_kind_has_its_result_shape(
    clients: dict[str, TestClient], bundles: dict[str, Bundle], fitted: dict[str, zoo.Fitted]
) -> None:
    keys = {
        cid: set(_post(clients[cid], "/predict", records(fitted[cid].X_test, 1)[0]).json())
        for cid in IDS
    }
    version = "model_version"
    assert keys[FOREST] == {"prediction", "probabilities", "confidence", "warnings", version}
    assert keys[SVC_ERROR] == keys[INT_SVC] == {"prediction", "decision", "warnings", version}
    assert keys[RIDGE] == {"prediction", "interval", "warnings", version}
    one = _post(clients[INT_SVC], "/predict", records(fitted[INT_SVC].X_test, 1)[0]).json()
    assert type(one["prediction"]) is int and type(one["decision"]) is float
    ridge = _post(clients[RIDGE], "/predict", records(fitted[RIDGE].X_test, 1)[0]).json()
    interval = bundles[RIDGE].manifest.interval
    assert interval is not None
    assert ridge["interval"] == [ridge["prediction"] - interval.half_width,
                                 ridge["prediction"] + interval.half_width]  # fmt: skip


def _body(bundle: Bundle, record: int, field: str, problem: str, expected: str) -> Any:
    """The exact 422 body: the library's own error for this one problem."""
    return InputValidationError(
        bundle.name, [InputProblem(record, field, problem, expected)]
    ).to_dict()


_ISLANDS = "one of the 3 categories ['Biscoe', 'Dream', 'Torgersen']"
_NO_MISSING = " (this feature had no missing values in training, so none are accepted)"
_REFUSED = "a category never seen in training (the pipeline refuses unknown categories)"

BAD_PREDICT = [
    # id, bundle, changes to the first test record (None: drop the field), field, problem, expected
    ("unknown category refused", SVC_ERROR, {"island": "Atlantis"}, "island",
     f"got 'Atlantis', {_REFUSED}", _ISLANDS),
    ("unknown category in a list", SVC_ERROR, {"sex": "unknown"}, "sex",
     f"got 'unknown', {_REFUSED}", "one of the 2 categories ['female', 'male']"),
    ("category as a number", FOREST, {"island": 3}, "island", "got int 3", _ISLANDS),
    ("category as a boolean", RIDGE, {"species": True}, "species", "got a boolean True",
     "one of the 3 categories ['Adelie', 'Chinstrap', 'Gentoo']"),
    ("boolean as a string", BOOL, {"male": "yes"}, "male", "got str 'yes'", "true or false"),
    ("boolean as a number", BOOL, {"male": 1}, "male", "got int 1", "true or false"),
    ("number as a category", FOREST, {"year": "2008"}, "year", "got a string '2008'",
     "a number, not a string"),
    ("missing category not allowed", FOREST, {"island": None}, "island",
     "got a missing value (null or NaN)", _ISLANDS + _NO_MISSING),
    ("absent category", RIDGE, {"island": ...}, "island", MISSING, _ISLANDS),
    ("missing boolean not allowed", BOOL, {"male": None}, "male",
     "got a missing value (null or NaN)", "true or false" + _NO_MISSING),
]  # fmt: skip


@pytest.mark.parametrize(
    ("cid", "changes", "field", "problem", "expected"),
    [c[1:] for c in BAD_PREDICT],
    ids=[c[0] for c in BAD_PREDICT],
)
def test_bad_categorical_input_gets_422_with_the_problem(
    cid: str,
    changes: dict[str, Any],
    field: str,
    problem: str,
    expected: str,
    clients: dict[str, TestClient],
    bundles: dict[str, Bundle],
    fitted: dict[str, zoo.Fitted],
) -> None:
    record = records(fitted[cid].X_test, 1)[0]
    bad = {k: v for k, v in {**record, **changes}.items() if v is not ...}
    rows = [record, bad]
    response = _post(clients[cid], "/predict", rows)
    assert response.status_code == 422
    assert response.json() == _body(bundles[cid], 1, field, problem, expected)
    with pytest.raises(InputValidationError) as raised:
        bundles[cid].predict(rows)
    assert response.json() == raised.value.to_dict()
    assert _post(clients[cid], "/predict", record).status_code == 200  # the server goes on


@pytest.mark.parametrize(("cid", "field"), [(FOREST, "island"), (RIDGE, "species")])
def test_an_unknown_category_is_answered_with_a_warning_where_the_pipeline_accepts_it(
    cid: str, field: str, clients: dict[str, TestClient], bundles: dict[str, Bundle],
    fitted: dict[str, zoo.Fitted],
) -> None:  # fmt: skip
    record = {**records(fitted[cid].X_test, 1)[0], field: "Atlantis"}
    response = _post(clients[cid], "/predict", record)
    assert response.status_code == 200
    body = response.json()
    assert body["warnings"] == [
        f"{field!r} = 'Atlantis' is a category never seen in training; the pipeline handles it "
        "as unknown"
    ]
    assert body == _served(bundles[cid].predict(record)[0])


def test_missing_values_are_accepted_where_training_had_them(
    clients: dict[str, TestClient], bundles: dict[str, Bundle], fitted: dict[str, zoo.Fitted]
) -> None:
    record = {**records(fitted[FOREST].X_test, 1)[0], "sex": None, "bill_depth_mm": None}
    response = _post(clients[FOREST], "/predict", record)
    assert response.status_code == 200
    assert response.json() == _served(bundles[FOREST].predict(record)[0])


# -- the page --------------------------------------------------------------------------------
class _Form(HTMLParser):
    """Per form control: its tag and attributes, and the text of each of its options."""

    def __init__(self, document: str) -> None:
        super().__init__(convert_charrefs=True)
        self.controls: dict[str, tuple[str, list[tuple[str, str]]]] = {}
        self.scripts = 0
        self._select: str | None = None
        self._option: str | None = None
        self.feed(document)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        self.scripts += tag == "script"
        if tag in ("input", "select") and a.get("name"):
            self.controls[str(a["name"])] = (tag, [])
            self._select = str(a["name"]) if tag == "select" else None
        elif tag == "option" and self._select is not None:
            self._option = a.get("value") or ""
            self.controls[self._select][1].append((self._option, ""))

    def handle_data(self, data: str) -> None:
        if self._option is not None and self._select is not None:
            options = self.controls[self._select][1]
            options[-1] = (options[-1][0], options[-1][1] + data)

    def handle_endtag(self, tag: str) -> None:
        if tag == "option":
            self._option = None
        elif tag == "select":
            self._select = None


def _config(page: str) -> Any:
    return orjson.loads(re.search(r'id="config">(.*?)</script>', page, re.S).group(1))  # type: ignore[union-attr]


@pytest.mark.parametrize("cid", [FOREST, RIDGE, BOOL])
def test_the_page_has_a_select_of_each_categorical_feature(
    cid: str, clients: dict[str, TestClient], bundles: dict[str, Bundle]
) -> None:
    page = clients[cid].get("/").text
    form = _Form(page)
    for f in bundles[cid].validator.features:
        tag, options = form.controls[f.name]
        if f.kind == "numeric":
            assert (tag, options) == ("input", [])
            continue
        shown = ["false", "true"] if f.kind == "boolean" else [str(c) for c in f.categories or []]
        want = [(str(k), text) for k, text in enumerate(shown)]
        if f.missing_allowed:
            want.insert(0, ("", "(missing)"))
        assert (tag, options) == ("select", want), f.name
    config = _config(page)
    assert [f["categories"] for f in config["features"]] == [
        f.categories if f.kind != "numeric" else None for f in bundles[cid].validator.features
    ]
    # The page starts from the held-out example the bundle stores (a real test row).
    stored = bundles[cid].manifest.example
    assert stored is not None and config["example"] == stored


def test_the_page_says_what_the_bundle_predicts(
    clients: dict[str, TestClient], bundles: dict[str, Bundle]
) -> None:
    ridge = clients[RIDGE].get("/").text
    assert "Predicts a value (regression) &middot;" in ridge
    assert (_config(ridge)["output"], _config(ridge)["interval"]) == ("values", 0.9)
    svc = clients[SVC_ERROR].get("/").text
    assert "Classes: Adelie, Chinstrap, Gentoo &middot;" in svc
    assert (_config(svc)["output"], _config(svc)["classes"]) == (
        "labels",
        ["Adelie", "Chinstrap", "Gentoo"],
    )


def test_a_category_holding_markup_is_text_in_the_page(
    clients: dict[str, TestClient], bundles: dict[str, Bundle]
) -> None:
    page = clients[EVIL].get("/").text
    form = _Form(page)
    assert form.scripts == 2  # the config element and the page's own script
    assert SCRIPT not in page and IMG not in page
    assert re.search(r"<script>alert|<img src=x", page) is None
    categories = bundles[EVIL].validator.features[0].categories
    assert categories is not None and SCRIPT in categories and IMG in categories
    assert form.controls["island"] == ("select", [(str(k), c) for k, c in enumerate(categories)])
    k = categories.index(SCRIPT)
    assert (
        f'<option value="{k}">&lt;/script&gt;&lt;script&gt;alert(1)&lt;/script&gt;</option>' in page
    )
    assert _config(page)["features"][0]["categories"] == categories
    # And the server answers the category as sent.
    record = {"island": SCRIPT, "bill_length_mm": 40.0}
    answer = _post(clients[EVIL], "/predict", record).json()
    assert answer == _served(bundles[EVIL].predict(record)[0])


# -- OpenAPI ---------------------------------------------------------------------------------
@pytest.mark.parametrize("cid", [*IDS, EVIL])
def test_openapi_enums_are_the_categories_and_the_document_validates(
    cid: str, clients: dict[str, TestClient], bundles: dict[str, Bundle]
) -> None:
    from openapi_spec_validator import validate

    doc = clients[cid].get("/openapi.json").json()
    validate(doc)
    props = doc["components"]["schemas"]["Record"]["properties"]
    for f in bundles[cid].validator.features:
        prop = props[f.name]
        assert prop.get("nullable", False) is f.missing_allowed, f.name
        if f.kind == "numeric":
            assert prop["type"] == "number"
        elif f.kind == "boolean":
            assert prop["type"] == "boolean" and "enum" not in prop
        else:
            assert prop["type"] == "string"
            assert prop["enum"] == [*(f.categories or []), *([None] if f.missing_allowed else [])]


def test_openapi_response_schema_follows_the_output_kind(
    clients: dict[str, TestClient], fitted: dict[str, zoo.Fitted]
) -> None:
    import jsonschema

    for cid in IDS:
        doc = clients[cid].get("/openapi.json").json()
        schema = doc["components"]["schemas"]["PredictionResult"]
        for result in _post(clients[cid], "/predict", records(fitted[cid].X_test)).json():
            jsonschema.validate(result, schema)
    ridge = clients[RIDGE].get("/openapi.json").json()["components"]["schemas"]
    assert ridge["PredictionResult"]["required"] == ["prediction", "interval", "warnings"]
    assert ridge["PredictionResult"]["properties"]["prediction"] == {"type": "number"}
    output = ridge["V2InferenceRequest"]["properties"]["outputs"]["items"]["properties"]
    assert output["name"] == {"type": "string", "enum": ["prediction", "interval"]}
    svc = clients[INT_SVC].get("/openapi.json").json()["components"]["schemas"]
    assert svc["PredictionResult"]["properties"]["prediction"] == {
        "type": "integer",
        "enum": [0, 1],
    }
    assert svc["PredictionResult"]["required"] == ["prediction", "warnings"]
    example = svc["V2InferenceRequest"]["example"]["inputs"][0]
    assert example["datatype"] == "FP64"
    forest = clients[FOREST].get("/openapi.json").json()["components"]["schemas"]
    assert forest["V2InferenceRequest"]["example"]["inputs"][0] == {
        "name": "island", "shape": [1], "datatype": "BYTES", "data": ["Biscoe"]
    }  # fmt: skip


# -- Open Inference Protocol v2 ----------------------------------------------------------------
def test_v2_metadata_declares_bytes_inputs_and_the_outputs_of_each_kind(
    clients: dict[str, TestClient], bundles: dict[str, Bundle]
) -> None:
    def meta(cid: str) -> Any:
        return clients[cid].get(f"/v2/models/{cid}").json()

    kinds = {"numeric": "FP64", "categorical": "BYTES", "boolean": "BOOL"}
    for cid in IDS:
        assert meta(cid)["inputs"] == [
            {"name": f.name, "datatype": kinds[f.kind], "shape": [-1]}
            for f in bundles[cid].validator.features
        ]
    assert [i["datatype"] for i in meta(FOREST)["inputs"]] == [
        "BYTES", "FP64", "FP64", "FP64", "FP64", "BYTES", "FP64"
    ]  # fmt: skip
    assert meta(FOREST)["outputs"] == [
        {"name": "label", "datatype": "BYTES", "shape": [-1]},
        {"name": "probabilities", "datatype": "FP64", "shape": [-1, 3]},
        {"name": "classes", "datatype": "BYTES", "shape": [3]},
    ]
    assert meta(SVC_ERROR)["outputs"] == [
        {"name": "label", "datatype": "BYTES", "shape": [-1]},
        {"name": "decision", "datatype": "FP64", "shape": [-1, 3]},
        {"name": "classes", "datatype": "BYTES", "shape": [3]},
    ]
    assert meta(INT_SVC)["outputs"] == [
        {"name": "label", "datatype": "INT64", "shape": [-1]},
        {"name": "decision", "datatype": "FP64", "shape": [-1]},
        {"name": "classes", "datatype": "INT64", "shape": [2]},
    ]
    assert meta(RIDGE)["outputs"] == [
        {"name": "prediction", "datatype": "FP64", "shape": [-1]},
        {"name": "interval", "datatype": "FP64", "shape": [-1, 2]},
    ]


def _per_feature(bundle: Bundle, rows: list[dict[str, Any]]) -> dict[str, Any]:
    kinds = {"numeric": "FP64", "categorical": "BYTES", "boolean": "BOOL"}
    return {
        "inputs": [
            {"name": f.name, "shape": [len(rows)], "datatype": kinds[f.kind],
             "data": [r[f.name] for r in rows]}
            for f in bundle.validator.features
        ]
    }  # fmt: skip


@pytest.mark.parametrize("cid", IDS)
def test_v2_inference_with_bytes_inputs_equals_bundle_predict(
    cid: str,
    clients: dict[str, TestClient],
    bundles: dict[str, Bundle],
    fitted: dict[str, zoo.Fitted],
) -> None:
    bundle = bundles[cid]
    rows = records(fitted[cid].X_test)
    n = len(rows)
    response = _post(clients[cid], f"/v2/models/{cid}/infer", _per_feature(bundle, rows))
    assert response.status_code == 200
    out = {o["name"]: o for o in response.json()["outputs"]}
    expected = bundle.predict(rows)
    predictions = [r["prediction"] for r in expected]
    if cid == RIDGE:
        assert list(out) == ["prediction", "interval"]
        assert out["prediction"] == {"name": "prediction", "datatype": "FP64", "shape": [n],
                                     "data": predictions}  # fmt: skip
        assert out["interval"]["shape"] == [n, 2]
        assert out["interval"]["parameters"] == {"level": 0.9, "method": "split-conformal"}
        assert np.array(out["interval"]["data"]).reshape(n, 2).tolist() == [
            r["interval"] for r in expected
        ]
        return
    assert out["label"]["data"] == predictions
    assert out["label"]["shape"] == [n]
    if cid in (FOREST, BOOL):
        assert list(out) == ["label", "probabilities", "classes"]
        np.testing.assert_array_equal(
            np.array(out["probabilities"]["data"]).reshape(n, -1), bundle.predict_proba(rows)
        )
    elif cid == INT_SVC:
        assert list(out) == ["label", "decision", "classes"]
        assert out["label"]["datatype"] == "INT64"
        assert out["decision"] == {"name": "decision", "datatype": "FP64", "shape": [n],
                                   "data": [r["decision"] for r in expected]}  # fmt: skip
    else:
        assert list(out) == ["label", "decision", "classes"]
        classes = bundle.classes
        assert out["classes"]["data"] == classes
        assert "parameters" not in out["decision"]
        scores = np.array(out["decision"]["data"]).reshape(n, len(classes)).tolist()
        assert scores == [[r["decision"][c] for c in classes] for r in expected]


def test_v2_one_bytes_matrix_and_an_output_filter(
    clients: dict[str, TestClient], bundles: dict[str, Bundle], fitted: dict[str, zoo.Fitted]
) -> None:
    bundle = bundles[RIDGE]
    rows = records(fitted[RIDGE].X_test, 5)
    names = bundle.feature_names
    request = {
        "inputs": [{"name": "rows", "shape": [5, len(names)], "datatype": "BYTES",
                    "data": [[str(r[n]) for n in names] for r in rows]}],
        "outputs": [{"name": "prediction"}],
    }  # fmt: skip
    body = _post(clients[RIDGE], f"/v2/models/{RIDGE}/infer", request).json()
    values = [r["prediction"] for r in bundle.predict(rows)]
    assert body["outputs"] == [
        {"name": "prediction", "datatype": "FP64", "shape": [5], "data": values}
    ]


def test_v2_integer_categories_keep_their_type(tmp_path: Path) -> None:
    """An integer category must reach the validator as an int, not the float numpy would make."""
    df = load_penguins().dropna(subset=["bill_length_mm"]).copy()
    X = df[["year", "bill_length_mm"]].astype({"year": "category"})
    y = df["species"].to_numpy()
    prep = ColumnTransformer(
        [("year", OneHotEncoder(), ["year"]), ("num", StandardScaler(), ["bill_length_mm"])]
    )
    pipe = make_pipeline(prep, LogisticRegression(max_iter=1000)).fit(X, y)
    bundle = skbundle.load(save_fitted(zoo.Fitted(pipe, X, y, X, y), tmp_path / "b", "years"))
    assert bundle.validator.features[0].categories == [2007, 2008, 2009]
    rows = [{"year": 2008, "bill_length_mm": 40.0}, {"year": 2009, "bill_length_mm": 50.0}]
    with TestClient(create_app(bundle)) as c:
        meta = c.get("/v2/models/years").json()
        assert meta["inputs"][0] == {"name": "year", "datatype": "INT64", "shape": [-1]}
        request = {"inputs": [
            {"name": "year", "shape": [2], "datatype": "INT64", "data": [2008, 2009]},
            {"name": "bill_length_mm", "shape": [2], "datatype": "FP64", "data": [40.0, 50.0]},
        ]}  # fmt: skip
        body = _post(c, "/v2/models/years/infer", request).json()
        doc = c.get("/openapi.json").json()
    assert body["outputs"][0]["data"] == [r["prediction"] for r in bundle.predict(rows)]
    assert doc["components"]["schemas"]["Record"]["properties"]["year"]["type"] == "integer"
    assert doc["components"]["schemas"]["Record"]["properties"]["year"]["enum"] == [
        2007,
        2008,
        2009,
    ]


_NUMERIC = f"a numeric datatype, one of {sorted(NUMERIC)}"

BAD_V2 = [
    # id, bundle, (feature, datatype, value) replacing the first row's tensor, outputs, error, field
    ("number for a category", SVC_ERROR, ("island", "FP64", 1.0), None,
     "input 'island' has datatype 'FP64'; expected BYTES (the feature 'island' is categorical: "
     "'data' holds its category strings)", "island"),
    ("bytes for a number", SVC_ERROR, ("year", "BYTES", "2008"), None,
     f"input 'year' has datatype 'BYTES'; expected {_NUMERIC}", "year"),
    ("bytes for a boolean", BOOL, ("male", "BYTES", "true"), None,
     "input 'male' has datatype 'BYTES'; expected BOOL (the feature 'male' is boolean: 'data' "
     "holds true or false)", "male"),
    ("probabilities of a regressor", RIDGE, None, [{"name": "probabilities"}],
     "output 'probabilities' does not exist; expected one of ['prediction', 'interval']",
     "probabilities"),
    ("decision of a forest", FOREST, None, [{"name": "decision"}],
     "output 'decision' does not exist; expected one of ['label', 'probabilities', 'classes']",
     "decision"),
]  # fmt: skip


@pytest.mark.parametrize(
    ("cid", "tensor", "outputs", "error", "field"),
    [c[1:] for c in BAD_V2],
    ids=[c[0] for c in BAD_V2],
)
def test_bad_v2_requests_get_400_with_the_protocol_error(
    cid: str,
    tensor: tuple[str, str, Any] | None,
    outputs: list[dict[str, str]] | None,
    error: str,
    field: str,
    clients: dict[str, TestClient],
    bundles: dict[str, Bundle],
    fitted: dict[str, zoo.Fitted],
) -> None:
    rows = records(fitted[cid].X_test, 1)
    request = _per_feature(bundles[cid], rows)
    if tensor is not None:
        name, datatype, value = tensor
        for t in request["inputs"]:
            if t["name"] == name:
                t.update(datatype=datatype, data=[value])
    if outputs is not None:
        request["outputs"] = outputs
    response = _post(clients[cid], f"/v2/models/{cid}/infer", request)
    assert response.status_code == 400
    assert response.json()["error"] == f"field {field!r}: {error}"
    assert response.json()["problems"][0]["field"] == field


def test_v2_unknown_category_is_refused_with_the_known_ones(
    clients: dict[str, TestClient], bundles: dict[str, Bundle], fitted: dict[str, zoo.Fitted]
) -> None:
    rows = records(fitted[SVC_ERROR].X_test, 2)
    rows[1] = {**rows[1], "island": "Atlantis"}
    response = _post(
        clients[SVC_ERROR], f"/v2/models/{SVC_ERROR}/infer", _per_feature(bundles[SVC_ERROR], rows)
    )
    assert response.status_code == 400
    body = _body(bundles[SVC_ERROR], 1, "island", f"got 'Atlantis', {_REFUSED}", _ISLANDS)
    assert response.json() == {"error": body["message"], "problems": body["problems"]}


# -- metrics, the hook, metadata ---------------------------------------------------------------
def _sample(text: str, name: str, labels: str = "") -> float:
    pattern = re.escape(name) + (re.escape("{" + labels + "}") if labels else "") + r" (\S+)"
    found = re.search(r"^" + pattern + "$", text, re.M)
    return float(found.group(1)) if found else 0.0


def test_a_regressor_counts_predictions_and_a_histogram_of_values(
    bundles: dict[str, Bundle], fitted: dict[str, zoo.Fitted]
) -> None:
    bundle = bundles[RIDGE]
    rows = records(fitted[RIDGE].X_test)
    values = [r["prediction"] for r in bundle.predict(rows)]
    interval = bundle.manifest.interval
    assert interval is not None
    center = bundle.predict(bundle.validator.example())[0]["prediction"]
    buckets = value_buckets(center, interval.half_width)
    with TestClient(create_app(bundle)) as c:
        _post(c, "/predict", rows)
        _post(c, "/predict", rows[0])
        text = c.get("/metrics").text
    assert _sample(text, "skbundle_predictions_total") == len(rows) + 1
    assert "class_name=" not in text
    assert _sample(text, "skbundle_predicted_value_count") == len(rows) + 1
    assert _sample(text, "skbundle_predicted_value_sum") == pytest.approx(sum(values) + values[0])
    for edge in buckets:
        below = sum(v <= edge for v in [*values, values[0]])
        assert _sample(text, "skbundle_predicted_value_bucket", f'le="{edge!r}"') == below, edge


def test_a_label_classifier_counts_predictions_by_its_label_column(
    bundles: dict[str, Bundle], fitted: dict[str, zoo.Fitted]
) -> None:
    bundle = bundles[SVC_ERROR]
    rows = records(fitted[SVC_ERROR].X_test, 30)
    predicted = [r["prediction"] for r in bundle.predict(rows)]
    with TestClient(create_app(bundle)) as c:
        _post(c, "/predict", rows)
        _post(c, "/predict", rows[0])
        text = c.get("/metrics").text
    counts = {c: predicted.count(c) + (c == predicted[0]) for c in bundle.classes}
    assert len({k for k, v in counts.items() if v}) >= 2  # a real mix of classes
    for name, n in counts.items():
        assert _sample(text, "skbundle_predictions_total", f'class_name="{name}"') == n


def test_the_hook_gets_the_codes_and_the_runtime_output(
    bundles: dict[str, Bundle], fitted: dict[str, zoo.Fitted]
) -> None:
    calls: list[tuple[np.ndarray, np.ndarray]] = []
    bundle = bundles[RIDGE]
    rows = records(fitted[RIDGE].X_test, 4)
    with TestClient(create_app(bundle, on_prediction=lambda X, out: calls.append((X, out)))) as c:
        _post(c, "/predict", rows)
    checked = bundle.validate(rows)
    ((X, out),) = calls
    np.testing.assert_array_equal(X, checked.X)
    np.testing.assert_array_equal(out, bundle.predict_validated(checked))
    assert out.shape == (4, 1)


def test_metadata_says_the_task_output_and_interval(
    clients: dict[str, TestClient], bundles: dict[str, Bundle]
) -> None:
    ridge = clients[RIDGE].get("/metadata").json()
    interval = bundles[RIDGE].manifest.interval
    assert interval is not None
    assert (ridge["task"], ridge["output"], ridge["classes"]) == ("regression", "values", [])
    assert ridge["interval"] == interval.model_dump(mode="json")
    svc = clients[SVC_ERROR].get("/metadata").json()
    assert (svc["task"], svc["output"], svc["interval"]) == ("classification", "labels", None)
    assert svc["features"][0]["categories"] == ["Biscoe", "Dream", "Torgersen"]
    assert svc["example"]["island"] == "Biscoe"
