"""The OpenAPI document, generated from the bundle's feature schema, and the /docs page.

Request bodies name every feature with its type (a number with its training range; a
categorical feature an ``enum`` of its categories, a boolean one a ``boolean``) and an example
record, and the response schema follows what the bundle predicts (class and probabilities,
class and decision scores, or a value and its interval), so a client generator or a person
reading /docs sees exactly what to send and what comes back. The schema is
documentation only: requests are checked by the bundle's validator, not by this schema; it
promises no more than the server keeps (a limit of the server's configuration, such as
``max_rows``, is a documented 413, not a ``maxItems``). Every route of the app is listed (a
test compares the two).
/docs is Swagger UI served from the ``swagger-ui-bundle`` package: no CDN, no internet.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from swagger_ui_bundle import swagger_ui_path  # type: ignore[import-untyped]

from skbundle.bundle import Bundle, prediction_labels
from skbundle.core.manifest import FeatureSpec
from skbundle.serve.tensors import BOOL, BYTES, NUMERIC
from skbundle.serve.v2 import input_datatype

DOCS_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>skbundle API</title>
<link rel="stylesheet" href="/docs/static/swagger-ui.css"></head>
<body><div id="swagger-ui"></div>
<script src="/docs/static/swagger-ui-bundle.js"></script>
<script>SwaggerUIBundle({url: "/openapi.json", dom_id: "#swagger-ui"});</script>
</body></html>
"""


# 3.0, not 3.1: the Swagger UI that ships in swagger-ui-bundle (4.x) renders only 3.0.
OPENAPI_VERSION = "3.0.3"


def swagger_ui_dir() -> str:
    return str(Path(swagger_ui_path))


def _problem_schema() -> dict[str, Any]:
    return {
        "type": "object",
        "properties": {
            "record": {"type": "integer", "nullable": True, "description": "0-based record"},
            "field": {"type": "string", "nullable": True, "description": "feature or input"},
            "problem": {"type": "string"},
            "expected": {"type": "string"},
        },
        "required": ["record", "field", "problem", "expected"],
    }


def _json(schema_ref: str, example: Any = None) -> dict[str, Any]:
    content: dict[str, Any] = {"schema": {"$ref": f"#/components/schemas/{schema_ref}"}}
    if example is not None:
        content["example"] = example
    return {"content": {"application/json": content}}


def _error(description: str, ref: str = "Error") -> dict[str, Any]:
    return {"description": description, **_json(ref)}


def _numeric_property(f: FeatureSpec) -> dict[str, Any]:
    parts = [f"training range [{f.min:g}, {f.max:g}]" if f.min is not None else "no range"]
    if f.mean is not None:
        parts.append(f"mean {f.mean:g}")
    parts.append(
        "null accepted (missing in training)" if f.missing_allowed else "required, not null"
    )
    parts.append("values outside the range are accepted with a warning")
    return {"type": "number", "description": "; ".join(parts)}


def _category_property(f: FeatureSpec) -> dict[str, Any]:
    """A categorical feature as an ``enum`` of its categories; a boolean one as a boolean.

    The enum lists the categories seen in training, also where the pipeline accepts others
    (the server answers them with a warning; the description says so): it documents what
    the model knows. Where missing values are allowed it ends with ``null``, as OpenAPI 3.0
    requires of a nullable enum.
    """
    categories = list(f.categories or [])
    missing = "null accepted (missing in training)" if f.missing_allowed else "required, not null"
    if f.kind == "boolean":
        return {"type": "boolean", "description": f"true or false; {missing}"}
    kind = "integer" if categories and isinstance(categories[0], int) else "string"
    prop: dict[str, Any] = {"type": kind, "enum": categories}
    if f.unknown == "accept":
        text = (
            "one of the categories seen in training; another is accepted with a warning (the "
            "pipeline handles it as unknown)"
        )
    else:
        text = "one of the categories seen in training; another is refused (422)"
    if f.missing_allowed:
        # OpenAPI 3.0: with nullable, an enum must list null to allow it.
        prop["enum"] = [*categories, None]
    prop["description"] = f"{text}; {missing}"
    return prop


def record_properties(bundle: Bundle) -> dict[str, dict[str, Any]]:
    """The JSON schema of each feature, as the ``Record`` schema lists them."""
    properties: dict[str, dict[str, Any]] = {}
    for f in bundle.validator.features:
        prop = _numeric_property(f) if f.kind == "numeric" else _category_property(f)
        if f.missing_allowed:
            prop["nullable"] = True
        properties[f.name] = prop
    return properties


def _result_schema(bundle: Bundle) -> dict[str, Any]:
    """``PredictionResult``: what ``Bundle.predict`` gives for one record, by output kind."""
    m = bundle.manifest
    warnings = {"type": "array", "items": {"type": "string"}}
    if m.output == "values":
        properties: dict[str, Any] = {"prediction": {"type": "number"}}
        required = ["prediction", "warnings"]
        if m.interval is not None:
            properties["interval"] = {
                "type": "array",
                "items": {"type": "number"},
                "minItems": 2,
                "maxItems": 2,
                "description": f"[low, high]: the {m.interval.level:.0%} split-conformal "
                f"prediction interval (prediction +/- {m.interval.half_width:g})",
            }
            required.insert(1, "interval")
        properties["warnings"] = warnings
        return {"type": "object", "properties": properties, "required": required}
    labels = prediction_labels(m)
    integers = bool(labels) and all(type(v) is int for v in labels)
    prediction = {"type": "integer" if integers else "string", "enum": labels}
    if m.output == "probabilities":
        classes = bundle.classes
        return {
            "type": "object",
            "properties": {
                "prediction": prediction,
                "probabilities": {
                    "type": "object",
                    "properties": {c: {"type": "number"} for c in classes},
                },
                "confidence": {"type": "number"},
                "warnings": warnings,
            },
            "required": ["prediction", "probabilities", "confidence", "warnings"],
        }
    decision = {
        "oneOf": [
            {"type": "number", "description": "two classes: the decision function's score"},
            {
                "type": "object",
                "properties": {c: {"type": "number"} for c in bundle.classes},
                "description": "more classes: a score per class",
            },
        ],
        "description": "present where the estimator has a decision function",
    }
    return {
        "type": "object",
        "properties": {"prediction": prediction, "decision": decision, "warnings": warnings},
        "required": ["prediction", "warnings"],
    }


_STATIC = {"type": "string", "enum": ["swagger-ui.css", "swagger-ui-bundle.js"]}
"""The two files /docs loads (the folder holds more)."""
_INFER_ABOUT = (
    "One tensor per feature (named after it, shape [N] or [N, 1]) or one tensor of shape "
    "[N, n_features] (see GET /v2/models/{name}). With the binary tensor data extension the "
    "body (Content-Type application/octet-stream) is the JSON request, as long as the header "
    "Inference-Header-Content-Length says, then each binary input's bytes in order; "
    "binary_data_output (request) or binary_data (output) asks for binary outputs, sent the "
    "same way."
)


def build(
    bundle: Bundle, max_rows: int, *, auth: bool, outputs: Sequence[str] = ()
) -> dict[str, Any]:
    """The OpenAPI 3.0 document of an app serving ``bundle``; ``outputs`` names its v2 outputs
    (those of a classifier with probabilities when empty)."""
    example = bundle.validator.example()
    properties = record_properties(bundle)
    required = [f.name for f in bundle.validator.features if not f.missing_allowed]
    classes = bundle.classes
    outputs = list(outputs) or ["label", "probabilities", "classes"]
    datatypes = sorted(NUMERIC | {BYTES, BOOL})
    v2_example = [
        {"name": f.name, "shape": [1], "datatype": input_datatype(f), "data": [example[f.name]]}
        for f in bundle.validator.features
    ]
    if bundle.task == "regression":
        about = f"Predictions of the regression bundle {bundle.name!r}."
    else:
        about = f"Predictions of the bundle {bundle.name!r}: classes {classes}."
    security: list[dict[str, list[str]]] = [{"bearer": []}] if auth else []
    predict_errors = {
        "400": _error("The body is not JSON."),
        "401": _error("Missing or wrong API key.") if auth else None,
        "413": _error(
            f"The body is over the server's max_body_bytes, or holds more than {max_rows} "
            "records (its max_rows)."
        ),
        "415": _error("The body is declared as another type than JSON."),
        "422": _error("The records do not fit the feature schema; every problem is listed."),
        "503": _error("The model is loading."),
    }
    v2_errors = {
        "400": _error("The request does not follow the protocol or fit the model.", "V2Error"),
        "401": _error("Missing or wrong API key.", "V2Error") if auth else None,
        "404": _error("No such model or version.", "V2Error"),
        "413": _error(
            f"The body is over the server's max_body_bytes, or holds more than {max_rows} rows "
            "(its max_rows).",
            "V2Error",
        ),
        "415": _error("The body is declared as another type than JSON or binary.", "V2Error"),
        "503": _error("The model is loading.", "V2Error"),
    }
    name_param = [
        {
            "name": "name",
            "in": "path",
            "required": True,
            "schema": {"type": "string", "enum": [bundle.name]},
        }
    ]
    version_params = [
        *name_param,
        {
            "name": "version",
            "in": "path",
            "required": True,
            "schema": {"type": "string", "enum": [bundle.version]},
        },
    ]
    infer = {
        "summary": "Open Inference Protocol v2 inference",
        "description": _INFER_ABOUT,
        "security": security,
        "requestBody": {"required": True, **_json("V2InferenceRequest")},
        "responses": {
            "200": {
                "description": f"Outputs {', '.join(outputs)}: JSON, or with binary outputs "
                "the JSON header then their data (binary tensor data extension).",
                "content": {
                    "application/json": {
                        "schema": {"$ref": "#/components/schemas/V2InferenceResponse"}
                    },
                    "application/octet-stream": {"schema": {"type": "string", "format": "binary"}},
                },
            },
            **{k: v for k, v in v2_errors.items() if v is not None},
        },
    }
    model_metadata = {
        "summary": "v2 model metadata",
        "responses": {
            "200": {"description": "Inputs and outputs with names, datatypes and shapes."},
            "404": _error("No such model or version.", "V2Error"),
            "503": _error("The model is loading.", "V2Error"),
        },
    }
    model_ready = {
        "summary": "v2 model readiness",
        "responses": {
            "200": {"description": "The model is loaded and ready."},
            "404": _error("No such model or version.", "V2Error"),
            "503": _error("The model is loading.", "V2Error"),
        },
    }
    doc: dict[str, Any] = {
        "openapi": OPENAPI_VERSION,
        "info": {
            "title": f"{bundle.name} (skbundle)",
            "version": bundle.version,
            "description": bundle.manifest.description or about,
        },
        "paths": {
            "/predict": {
                "post": {
                    "summary": "Predict one record or a list of records",
                    "security": security,
                    "parameters": [
                        {
                            "name": "ignore_unknown",
                            "in": "query",
                            "required": False,
                            "description": "Drop fields that are not features (each result "
                            "says so) instead of refusing the request.",
                            "schema": {"type": "boolean", "default": False},
                        }
                    ],
                    "requestBody": {
                        "required": True,
                        "content": {
                            "application/json": {
                                "schema": {"$ref": "#/components/schemas/PredictRequest"},
                                "examples": {
                                    "one record": {"value": example},
                                    "records": {"value": [example, example]},
                                },
                            }
                        },
                    },
                    "responses": {
                        "200": {
                            "description": "One result per record (an object for an object).",
                            **_json("PredictResponse"),
                        },
                        **{k: v for k, v in predict_errors.items() if v is not None},
                    },
                }
            },
            "/v2": {
                "get": {
                    "summary": "v2 server metadata: name, version and extensions",
                    "responses": {"200": {"description": "the server"}},
                }
            },
            "/v2/models/{name}": {"get": {**model_metadata, "parameters": name_param}},
            "/v2/models/{name}/ready": {"get": {**model_ready, "parameters": name_param}},
            "/v2/models/{name}/infer": {"post": {**infer, "parameters": name_param}},
            "/v2/models/{name}/versions/{version}": {
                "get": {**model_metadata, "parameters": version_params}
            },
            "/v2/models/{name}/versions/{version}/ready": {
                "get": {**model_ready, "parameters": version_params}
            },
            "/v2/models/{name}/versions/{version}/infer": {
                "post": {**infer, "parameters": version_params}
            },
            "/v2/health/live": {
                "get": {"summary": "v2 liveness", "responses": {"200": {"description": "live"}}}
            },
            "/v2/health/ready": {
                "get": {
                    "summary": "v2 readiness",
                    "responses": {
                        "200": {"description": "ready"},
                        "503": {"description": "the model is loading"},
                    },
                }
            },
            "/health": {
                "get": {
                    "summary": "Health",
                    "responses": {
                        "200": {
                            "description": "status 'ok', or 'degraded' when the prediction log "
                            "has stopped on a write error (its counts are under prediction_log)"
                        }
                    },
                }
            },
            "/metadata": {
                "get": {
                    "summary": "Identity, schema, metrics and runtime",
                    "responses": {"200": {"description": "the bundle"}},
                }
            },
            "/metrics": {
                "get": {
                    "summary": "Prometheus metrics",
                    "responses": {"200": {"description": "text exposition"}},
                }
            },
            "/openapi.json": {
                "get": {
                    "summary": "This document",
                    "responses": {"200": {"description": "OpenAPI 3.0"}},
                }
            },
            "/docs": {
                "get": {
                    "summary": "Swagger UI of this document",
                    "responses": {"200": {"description": "an HTML page"}},
                }
            },
            "/docs/static/{path}": {
                "get": {
                    "summary": "Swagger UI's scripts and styles (no CDN)",
                    "parameters": [
                        {"name": "path", "in": "path", "required": True, "schema": _STATIC}
                    ],
                    "responses": {
                        "200": {"description": "a static file"},
                        "404": {"description": "no such file"},
                    },
                }
            },
            "/": {
                "get": {
                    "summary": "The web page: a form for one record, the model's card",
                    "responses": {"200": {"description": "an HTML page"}},
                }
            },
            "/report": {
                "get": {
                    "summary": "The bundle's report.html, checked against the loaded manifest",
                    "responses": {
                        "200": {"description": "an HTML page, under a strict CSP"},
                        "404": {"description": "the bundle has no report, or it changed"},
                    },
                }
            },
            "/model-card": {
                "get": {
                    "summary": "The bundle's model card (Markdown, sent as plain text)",
                    "responses": {
                        "200": {"description": "model_card.md"},
                        "404": {"description": "the bundle has no model card, or it changed"},
                    },
                }
            },
        },
        "components": {
            "schemas": {
                "Record": {
                    "type": "object",
                    "properties": properties,
                    "required": required,
                    "additionalProperties": False,
                    # With ?ignore_unknown=true extra fields pass, up to this many in all.
                    "maxProperties": bundle.validator.max_fields,
                    "example": example,
                },
                "PredictRequest": {
                    "oneOf": [
                        {"$ref": "#/components/schemas/Record"},
                        {
                            "type": "array",
                            "items": {"$ref": "#/components/schemas/Record"},
                            "minItems": 1,
                            "description": f"At most {max_rows} records (the server's "
                            "max_rows): more are answered 413.",
                        },
                    ]
                },
                "PredictionResult": _result_schema(bundle),
                "PredictResponse": {
                    "oneOf": [
                        {"$ref": "#/components/schemas/PredictionResult"},
                        {
                            "type": "array",
                            "items": {"$ref": "#/components/schemas/PredictionResult"},
                        },
                    ]
                },
                "Problem": _problem_schema(),
                "Error": {
                    "type": "object",
                    "properties": {
                        "error": {"type": "string"},
                        "message": {"type": "string"},
                        "problems": {
                            "type": "array",
                            "items": {"$ref": "#/components/schemas/Problem"},
                        },
                    },
                    "required": ["error", "message", "problems"],
                },
                "V2Error": {
                    "type": "object",
                    "properties": {
                        "error": {"type": "string"},
                        "problems": {
                            "type": "array",
                            "items": {"$ref": "#/components/schemas/Problem"},
                        },
                    },
                    "required": ["error"],
                },
                "V2Tensor": {
                    "type": "object",
                    "properties": {
                        "name": {"type": "string"},
                        "shape": {
                            "type": "array",
                            "items": {"type": "integer", "minimum": 0},
                            "minItems": 1,
                            "maxItems": 2,
                        },
                        "datatype": {"type": "string"},
                        "parameters": {"type": "object", "nullable": True},
                        "data": {"type": "array"},
                    },
                    "required": ["name", "shape", "datatype"],
                },
                "V2Input": {
                    "type": "object",
                    "description": "An input tensor: 'data' (flat or nested, row-major, each "
                    "value fitting the datatype; null for a missing value), or the parameter "
                    "binary_data_size and its bytes after the JSON header.",
                    "properties": {
                        "name": {"type": "string"},
                        "shape": {
                            "type": "array",
                            "items": {"type": "integer", "minimum": 1},
                            "minItems": 1,
                            "maxItems": 2,
                        },
                        "datatype": {"type": "string", "enum": datatypes},
                        "parameters": {
                            "type": "object",
                            "nullable": True,
                            "properties": {"binary_data_size": {"type": "integer", "minimum": 0}},
                        },
                        "data": {"type": "array"},
                    },
                    "required": ["name", "shape", "datatype"],
                },
                "V2InferenceRequest": {
                    "type": "object",
                    "properties": {
                        "id": {"type": "string", "nullable": True},
                        "parameters": {
                            "type": "object",
                            "nullable": True,
                            "properties": {"binary_data_output": {"type": "boolean"}},
                        },
                        "inputs": {
                            "type": "array",
                            "items": {"$ref": "#/components/schemas/V2Input"},
                            "minItems": 1,
                            "maxItems": bundle.validator.max_fields,
                        },
                        "outputs": {
                            "type": "array",
                            "nullable": True,
                            "description": "The outputs to send (all of them when absent or "
                            "null), each once.",
                            "uniqueItems": True,
                            "items": {
                                "type": "object",
                                "properties": {
                                    "name": {"type": "string", "enum": outputs},
                                    "parameters": {
                                        "type": "object",
                                        "nullable": True,
                                        "properties": {"binary_data": {"type": "boolean"}},
                                    },
                                },
                                "required": ["name"],
                            },
                        },
                    },
                    "required": ["inputs"],
                    "example": {"inputs": v2_example},
                },
                "V2InferenceResponse": {
                    "type": "object",
                    "properties": {
                        "model_name": {"type": "string"},
                        "model_version": {"type": "string"},
                        "id": {"type": "string"},
                        "outputs": {
                            "type": "array",
                            "items": {"$ref": "#/components/schemas/V2Tensor"},
                        },
                    },
                    "required": ["model_name", "outputs"],
                },
            },
        },
    }
    if auth:
        doc["components"]["securitySchemes"] = {"bearer": {"type": "http", "scheme": "bearer"}}
    return doc
