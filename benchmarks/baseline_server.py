"""The baseline: a tutorial-style FastAPI + pandas + scikit-learn server.

What most "deploy your model with FastAPI" tutorials write: a pydantic model for the body,
a DataFrame per request, ``pipeline.predict_proba``, a dict back. It loads the same
``model.joblib`` as the bundle. Run by benchmarks/serve.py:

    BASELINE_MODEL=models/breast-cancer/model.joblib uvicorn --factory baseline_server:create
"""

from __future__ import annotations

import os
from typing import Any

import joblib
import pandas as pd
from fastapi import FastAPI
from pydantic import BaseModel


class Records(BaseModel):
    records: list[dict[str, float]]


def create() -> FastAPI:
    model = joblib.load(os.environ["BASELINE_MODEL"])
    classes = [str(c) for c in os.environ["BASELINE_CLASSES"].split(",")]
    app = FastAPI()

    @app.post("/predict")
    def predict(body: dict[str, Any] | list[dict[str, Any]]) -> Any:
        rows = body if isinstance(body, list) else [body]
        frame = pd.DataFrame(rows)
        proba = model.predict_proba(frame)
        results = [
            {
                "prediction": classes[int(p.argmax())],
                "probabilities": dict(zip(classes, p.tolist(), strict=True)),
                "confidence": float(p.max()),
            }
            for p in proba
        ]
        return results if isinstance(body, list) else results[0]

    @app.get("/health")
    def health() -> dict[str, str]:
        return {"status": "ok"}

    return app
