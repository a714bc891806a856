"""``BuildContext``: everything known about the bundle being built, handed to each writer."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from skbundle.core.integrity import describe_file
from skbundle.core.manifest import (
    Artifact,
    DatasetFingerprint,
    Environment,
    FeatureSpec,
    Interval,
    Manifest,
    Output,
    Parity,
)


@dataclass
class BuildContext:
    """Everything known about the bundle being built, handed to each writer in turn."""

    directory: Path
    pipeline: Any
    name: str
    version: str
    description: str
    created_at: str
    task: str
    output: Output
    X_train: pd.DataFrame
    y_train: np.ndarray
    X_test: pd.DataFrame
    y_test: np.ndarray
    codes_train: np.ndarray
    """X_train and X_test as the runtime sees them: float64 codes in schema order."""
    codes_test: np.ndarray
    class_values: list[Any]
    classes: list[str]
    features: list[FeatureSpec]
    metrics: dict[str, dict[str, Any]]
    environment: Environment
    options: dict[str, Any]
    out_train: np.ndarray
    """The fitted pipeline's output (runtime layout) on X_train and X_test, computed once."""
    out_test: np.ndarray
    interval: Interval | None = None
    positive_class: str | None = None
    example: dict[str, Any] | None = None
    example_label: str | None = None
    artifacts: list[Artifact] = field(default_factory=list)
    parity: dict[str, Parity] = field(default_factory=dict)
    unavailable: dict[str, str] = field(default_factory=dict)

    def add_file(self, relpath: str, *, role: str, fmt: str) -> Artifact:
        """List a file already written into the bundle directory."""
        artifact = describe_file(self.directory, relpath, role=role, fmt=fmt)
        self.artifacts.append(artifact)
        return artifact

    def manifest(self) -> Manifest:
        """The manifest as it stands: every file added so far. save() writes the final one."""
        return Manifest(
            name=self.name,
            version=self.version,
            description=self.description,
            created_at=self.created_at,
            task=self.task,  # type: ignore[arg-type]
            output=self.output,
            interval=self.interval,
            classes=self.classes,
            class_values=self.class_values,
            pipeline=_describe_steps(self.pipeline),
            features=self.features,
            metrics=self.metrics,
            dataset=fingerprint(self.X_train, self.codes_train, self.y_train),
            environment=self.environment,
            artifacts=sorted(self.artifacts, key=lambda a: a.path),
            parity=self.parity,
            unavailable_formats=self.unavailable,
            positive_class=self.positive_class,
            example=self.example,
            example_label=self.example_label,
        )


def fingerprint(X: pd.DataFrame, codes: np.ndarray, y: np.ndarray) -> DatasetFingerprint:
    """SHA-256 over column names, float64 values (categories as codes) and labels: which
    data, not the data itself."""
    digest = hashlib.sha256()
    digest.update("\x1f".join(map(str, X.columns)).encode())
    digest.update(np.ascontiguousarray(codes).tobytes())
    digest.update("\x1f".join(map(str, y.tolist())).encode())
    return DatasetFingerprint(sha256=digest.hexdigest(), n_rows=len(X), n_features=X.shape[1])


def _describe_steps(pipeline: Any) -> list[str]:
    steps = getattr(pipeline, "steps", None)
    if steps is None:
        return [repr(pipeline)]
    return [f"{name}: {step!r}" for name, step in steps]


def estimators(pipeline: Any) -> list[object]:
    """The pipeline and every estimator inside it: whose packages the environment records."""
    params = pipeline.get_params(deep=True).values()
    return [pipeline, *(p for p in params if hasattr(p, "get_params"))]
