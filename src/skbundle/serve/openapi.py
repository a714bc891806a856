"""The OpenAPI document, generated from the bundle's feature schema, and the /docs page.

Request bodies name every feature with its type, its training range and an example record,
so a client generator or a person reading /docs sees exactly what to send. The schema is
documentation only: requests are checked by the bundle's validator, not by this schema.
/docs is Swagger UI served from the ``swagger-ui-bundle`` package: no CDN, no internet.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from swagger_ui_bundle import swagger_ui_path  # type: ignore[import-untyped]

from skbundle.bundle import Bundle

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


def build(bundle: Bundle, max_rows: int, *, auth: bool) -> dict[str, Any]:
    """The OpenAPI 3.0 document of an app serving ``bundle``."""
    example = bundle.validator.example()
    properties = {}
    for f in bundle.validator.features:
        parts = [f"training range [{f.min:g}, {f.max:g}]" if f.min is not None else "no range"]
        if f.mean is not None:
            parts.append(f"mean {f.mean:g}")
        parts.append(
            "null accepted (missing in training)" if f.missing_allowed else "required, not null"
        )
        parts.append("values outside the range are accepted with a warning")
        prop: dict[str, Any] = {"type": "number", "description": "; ".join(parts)}
        if f.missing_allowed:
            prop["nullable"] = True
        properties[f.name] = prop
    required = [f.name for f in bundle.validator.features if not f.missing_allowed]
    classes = bundle.classes
    security: list[dict[str, list[str]]] = [{"bearer": []}] if auth else []
    predict_errors = {
        "400": _error("The body is not JSON."),
        "401": _error("Missing or wrong API key.") if auth else None,
        "413": _error("The body or the number of records is over the server's limit."),
        "422": _error("The records do not fit the feature schema; every problem is listed."),
    }
    v2_errors = {
        "400": _error("The request does not follow the protocol or fit the model.", "V2Error"),
        "401": _error("Missing or wrong API key.", "V2Error") if auth else None,
        "404": _error("No such model or version.", "V2Error"),
        "413": _error("The body or the number of rows is over the server's limit.", "V2Error"),
    }
    name_param = [
        {
            "name": "name",
            "in": "path",
            "required": True,
            "schema": {"type": "string", "enum": [bundle.name]},
        }
    ]
    doc: dict[str, Any] = {
        "openapi": OPENAPI_VERSION,
        "info": {
            "title": f"{bundle.name} (skbundle)",
            "version": bundle.version,
            "description": bundle.manifest.description
            or f"Predictions of the bundle {bundle.name!r}: classes {classes}.",
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
            "/v2/models/{name}/infer": {
                "post": {
                    "summary": "Open Inference Protocol v2 inference",
                    "security": security,
                    "parameters": name_param,
                    "requestBody": {"required": True, **_json("V2InferenceRequest")},
                    "responses": {
                        "200": {
                            "description": "Outputs label and probabilities.",
                            **_json("V2InferenceResponse"),
                        },
                        **{k: v for k, v in v2_errors.items() if v is not None},
                    },
                }
            },
            "/v2/models/{name}": {
                "get": {
                    "summary": "v2 model metadata",
                    "parameters": name_param,
                    "responses": {
                        "200": {
                            "description": "Inputs and outputs with names, datatypes and shapes."
                        },
                        "404": _error("No such model.", "V2Error"),
                    },
                }
            },
            "/v2/health/live": {
                "get": {"summary": "v2 liveness", "responses": {"200": {"description": "live"}}}
            },
            "/v2/health/ready": {
                "get": {"summary": "v2 readiness", "responses": {"200": {"description": "ready"}}}
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
                            "maxItems": max_rows,
                        },
                    ]
                },
                "PredictionResult": {
                    "type": "object",
                    "properties": {
                        "prediction": {"type": "string", "enum": classes},
                        "probabilities": {
                            "type": "object",
                            "properties": {c: {"type": "number"} for c in classes},
                        },
                        "confidence": {"type": "number"},
                        "warnings": {"type": "array", "items": {"type": "string"}},
                    },
                    "required": ["prediction", "probabilities", "confidence", "warnings"],
                },
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
                        "parameters": {"type": "object"},
                        "data": {"type": "array"},
                    },
                    "required": ["name", "shape", "datatype", "data"],
                },
                "V2InferenceRequest": {
                    "type": "object",
                    "properties": {
                        "id": {"type": "string"},
                        "parameters": {"type": "object"},
                        "inputs": {
                            "type": "array",
                            "items": {"$ref": "#/components/schemas/V2Tensor"},
                            "minItems": 1,
                            "maxItems": bundle.validator.max_fields,
                        },
                        "outputs": {
                            "type": "array",
                            "uniqueItems": True,
                            "items": {
                                "type": "object",
                                "properties": {"name": {"enum": ["label", "probabilities"]}},
                            },
                        },
                    },
                    "required": ["inputs"],
                    "example": {
                        "inputs": [
                            {"name": name, "shape": [1], "datatype": "FP64", "data": [value]}
                            for name, value in example.items()
                        ]
                    },
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
