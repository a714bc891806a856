"""``save()``: turn a fitted pipeline and its data into a bundle directory, atomically.

Order of work: check the inputs, infer the schema, compute metrics, write every format and
measure its parity, run the extra writers (requirements, and whatever later features add),
write the manifest last, then publish the directory with one rename.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from sklearn.base import is_classifier
from sklearn.exceptions import NotFittedError
from sklearn.utils.validation import check_is_fitted

from skbundle import atomic, environment
from skbundle.errors import PipelineError, UntrustedArtifactError, preview
from skbundle.formats import FORMATS, FormatUnavailable, SaveContext, shorten
from skbundle.integrity import describe_file, read_verified
from skbundle.manifest import (
    MANIFEST_NAME,
    Artifact,
    DatasetFingerprint,
    Environment,
    FeatureSpec,
    Manifest,
    Parity,
    validate_identity,
    write_manifest,
)
from skbundle.metrics import classification_metrics
from skbundle.parity import evaluation_sets, measure_sets, reference
from skbundle.reference import write_reference
from skbundle.schema import infer_schema


@dataclass
class BuildContext:
    """Everything known about the bundle being built, handed to each writer in turn."""

    directory: Path
    pipeline: Any
    name: str
    version: str
    description: str
    created_at: str
    X_train: pd.DataFrame
    y_train: np.ndarray
    X_test: pd.DataFrame
    y_test: np.ndarray
    class_values: list[Any]
    classes: list[str]
    features: list[FeatureSpec]
    metrics: dict[str, dict[str, Any]]
    environment: Environment
    options: dict[str, Any]
    proba_train: np.ndarray
    """The fitted pipeline's probabilities on X_train and X_test, computed once for all."""
    proba_test: np.ndarray
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
            classes=self.classes,
            class_values=self.class_values,
            pipeline=_describe_steps(self.pipeline),
            features=self.features,
            metrics=self.metrics,
            dataset=fingerprint(self.X_train, self.y_train),
            environment=self.environment,
            artifacts=sorted(self.artifacts, key=lambda a: a.path),
            parity=self.parity,
            unavailable_formats=self.unavailable,
        )


def write_requirements(ctx: BuildContext) -> None:
    text = environment.requirements_txt(
        ctx.environment, name=ctx.name, version=ctx.version, created_at=ctx.created_at
    )
    (ctx.directory / "requirements.txt").write_text(text, encoding="utf-8")
    ctx.add_file("requirements.txt", role="requirements", fmt="pip-requirements")


def write_reports(ctx: BuildContext) -> None:
    from skbundle.report.render import write_reports as render

    render(ctx)


# write_reports renders the checklist, which inspects every other file: keep it last.
WRITERS: list[Callable[[BuildContext], None]] = [write_requirements, write_reference, write_reports]
"""Writers that add files after the model formats; each lists what it writes in the context."""


# -- input checks ---------------------------------------------------------------------------
def _as_frame(X: object, which: str, feature_names: Sequence[str] | None) -> pd.DataFrame:
    if isinstance(X, pd.DataFrame):
        bad = [c for c in X.columns if not isinstance(c, str)]
        if bad:
            raise PipelineError(
                f"{which} columns",
                "feature names as strings",
                f"{preview(bad)}",
                "Name the columns, or pass a 2-D array with feature_names=[...].",
            )
        frame = X
    elif isinstance(X, np.ndarray) and X.ndim == 2:
        if feature_names is None:
            raise PipelineError(
                which,
                "a DataFrame, or a 2-D array with feature_names=[...]",
                "a 2-D array and no feature_names",
                "Pass feature_names= so that the bundle can name its inputs.",
            )
        if len(feature_names) != X.shape[1]:
            raise PipelineError(
                "feature_names",
                f"{X.shape[1]} names (one per column of {which})",
                f"{len(feature_names)} names",
            )
        frame = pd.DataFrame(X, columns=list(feature_names))
    else:
        got = f"a {X.ndim}-D array" if isinstance(X, np.ndarray) else type(X).__name__
        raise PipelineError(which, "a pandas DataFrame or a 2-D numpy array", got)
    if frame.shape[0] == 0:
        raise PipelineError(which, "at least one row", "no rows")
    non_numeric = [
        f"{c} ({frame[c].dtype})" for c in frame.columns if frame[c].dtype.kind not in "fiu"
    ]
    if non_numeric:
        raise PipelineError(
            f"{which} columns",
            "numeric features (int or float)",
            f"non-numeric columns {preview(non_numeric)}",
            "Categorical and text features are not supported yet: encode them as numbers "
            "before the data reaches the bundle, or drop them.",
        )
    return frame


def _as_labels(y: object, which: str, n_rows: int, x_name: str) -> np.ndarray:
    labels = np.asarray(y)
    if labels.ndim != 1:
        raise PipelineError(which, "a 1-D sequence of class labels", f"shape {labels.shape}")
    if len(labels) != n_rows:
        raise PipelineError(
            which, f"{n_rows} labels, one per row of {x_name}", f"{len(labels)} labels"
        )
    return labels


def _check_pipeline(pipeline: Any) -> None:
    if not hasattr(pipeline, "fit") or not hasattr(pipeline, "get_params"):
        raise PipelineError(
            "pipeline", "a fitted scikit-learn estimator or Pipeline", type(pipeline).__name__
        )
    try:
        check_is_fitted(pipeline)
    except NotFittedError as exc:
        raise PipelineError(
            "pipeline",
            "a fitted estimator",
            f"an unfitted {type(pipeline).__name__}",
            "Call pipeline.fit(X_train, y_train) before saving it.",
        ) from exc
    if not is_classifier(pipeline):
        raise PipelineError(
            "pipeline",
            "a classifier",
            f"a {type(pipeline).__name__} that is not one",
            "Only classification is supported so far.",
        )
    if not hasattr(pipeline, "predict_proba"):
        raise PipelineError(
            "pipeline",
            "a classifier with predict_proba",
            f"{type(pipeline).__name__} without it",
            "Use an estimator that estimates probabilities (e.g. SVC(probability=True)).",
        )


def _check_columns(pipeline: Any, frame: pd.DataFrame, which: str) -> None:
    columns = [str(c) for c in frame.columns]
    fitted = getattr(pipeline, "feature_names_in_", None)
    if fitted is not None:
        expected = [str(c) for c in fitted]
        if columns != expected:
            missing = sorted(set(expected) - set(columns))
            extra = sorted(set(columns) - set(expected))
            got = (
                f"missing {preview(missing)}, unexpected {preview(extra)}"
                if missing or extra
                else "the same columns in another order"
            )
            raise PipelineError(
                f"{which} columns",
                f"the {len(expected)} columns the pipeline was fitted on, in the same order",
                got,
                "Pass the data the pipeline was trained on, with its columns as they were.",
            )
    n_in = getattr(pipeline, "n_features_in_", None)
    if n_in is not None and n_in != len(columns):
        raise PipelineError(
            f"{which} columns",
            f"{n_in} features (the pipeline's n_features_in_)",
            f"{len(columns)} columns",
        )


def _class_names(pipeline: Any, class_names: Sequence[str] | None) -> tuple[list[Any], list[str]]:
    values = [v.item() if isinstance(v, np.generic) else v for v in pipeline.classes_]
    if class_names is None:
        return values, [str(v) for v in values]
    names = [str(n) for n in class_names]
    if len(names) != len(values):
        raise PipelineError(
            "class_names", f"{len(values)} names, one per class in {values}", f"{len(names)} names"
        )
    if len(set(names)) != len(names):
        raise PipelineError("class_names", "distinct names", f"{names}")
    return values, names


def _check_labels(y: np.ndarray, values: list[Any], which: str) -> None:
    unknown = sorted({str(v) for v in set(y.tolist()) - set(values)})
    if unknown:
        raise PipelineError(
            which,
            f"labels among the pipeline's classes {values}",
            f"unknown labels {preview(unknown)}",
        )


def fingerprint(X: pd.DataFrame, y: np.ndarray) -> DatasetFingerprint:
    """SHA-256 over column names, float64 values and labels: which data, not the data itself."""
    digest = hashlib.sha256()
    digest.update("\x1f".join(map(str, X.columns)).encode())
    digest.update(np.ascontiguousarray(X.to_numpy(dtype=np.float64, na_value=np.nan)).tobytes())
    digest.update("\x1f".join(map(str, y.tolist())).encode())
    return DatasetFingerprint(sha256=digest.hexdigest(), n_rows=len(X), n_features=X.shape[1])


def _describe_steps(pipeline: Any) -> list[str]:
    steps = getattr(pipeline, "steps", None)
    if steps is None:
        return [repr(pipeline)]
    return [f"{name}: {step!r}" for name, step in steps]


def _estimators(pipeline: Any) -> list[object]:
    params = pipeline.get_params(deep=True).values()
    return [pipeline, *(p for p in params if hasattr(p, "get_params"))]


# -- formats --------------------------------------------------------------------------------
def _own_types(fmt: str, data: bytes, source: str) -> frozenset[str]:
    """The names a file this save just wrote imports: trusted for the save-time parity check.

    At load time they must come from skbundle's allowlist or from the caller's trusted_types.
    """
    if fmt == "joblib":
        from skbundle.audit import scan

        return frozenset(scan(data, source=source).imports)
    if fmt == "skops":
        from skbundle.formats.skops_format import types_in

        return frozenset(types_in(data, source=source))
    return frozenset()


def _write_formats(ctx: BuildContext) -> None:
    names = [str(c) for c in ctx.X_train.columns]
    X_train = ctx.X_train.to_numpy(dtype=np.float64, na_value=np.nan)
    sets = evaluation_sets(
        ctx.pipeline, ctx.X_test.to_numpy(dtype=np.float64, na_value=np.nan), X_train, names
    )
    references = [reference(ctx.pipeline, s.X, names) for s in sets]
    save_ctx = SaveContext(
        feature_names=tuple(names),
        sample=X_train,
        options=ctx.options,
    )
    for name, handler in FORMATS.items():
        try:
            written = handler.save(ctx.pipeline, ctx.directory, save_ctx)
            relpath = written.relative_to(ctx.directory).as_posix()
            artifact = ctx.add_file(relpath, role="model", fmt=name)
            # Parity is measured on the bytes as written and re-read, exactly as load() will.
            # A file written a moment ago into our own temporary directory is trusted: every
            # name it imports is the pipeline's own (the pickle is still audited).
            data = read_verified(ctx.directory, artifact)
            try:
                trusted = _own_types(name, data, relpath)
                runtime = handler.load(data, source=relpath, trusted=trusted)
            except UntrustedArtifactError:
                raise
            except Exception as exc:  # a reader fails in its own ways (AttributeError, ...)
                raise FormatUnavailable(
                    shorten(
                        f"{name} wrote the pipeline but cannot read it back: "
                        f"{type(exc).__name__}: {exc}"
                    )
                ) from exc
            ctx.parity[name] = measure_sets(references, runtime, sets)
        except (FormatUnavailable, UntrustedArtifactError) as exc:
            ctx.unavailable[name] = str(exc)
            # Only this handler's file: every format's file is called model.<something>.
            (ctx.directory / handler.filename).unlink(missing_ok=True)
            ctx.artifacts = [a for a in ctx.artifacts if a.format != name]
    if not ctx.parity:
        raise PipelineError(
            "pipeline",
            "a pipeline at least one format can store",
            "; ".join(f"{k}: {v}" for k, v in ctx.unavailable.items()),
        )


# -- the public entry point -----------------------------------------------------------------
def save(
    pipeline: Any,
    path: str | os.PathLike[str],
    *,
    X_train: pd.DataFrame | np.ndarray,
    y_train: Sequence[Any] | np.ndarray,
    X_test: pd.DataFrame | np.ndarray,
    y_test: Sequence[Any] | np.ndarray,
    name: str,
    version: str = "1.0.0",
    description: str = "",
    class_names: Sequence[str] | None = None,
    feature_names: Sequence[str] | None = None,
    compress: int | tuple[str, int] = ("zlib", 3),
    overwrite: bool = False,
) -> Manifest:
    """Write a fitted classification pipeline and everything needed to trust it as a bundle.

    Parameters
    ----------
    pipeline
        A fitted scikit-learn classifier, usually a ``Pipeline`` of preprocessing and model.
    path
        The bundle directory to create (e.g. ``models/breast-cancer``).
    X_train, y_train
        The training data: the schema, its ranges and the dataset fingerprint come from it.
    X_test, y_test
        Held-out data: metrics and the parity of every format are measured on it.
    name, version
        The bundle's identity; ``version`` is a semantic version such as ``"1.0.0"``.
    description
        Free text for the manifest and the model card.
    class_names
        Display names of the classes, in the order of ``pipeline.classes_``.
    feature_names
        Column names, required when X is a 2-D array instead of a DataFrame.
    compress
        joblib compression: a level 0-9 (zlib) or a ``(codec, level)`` pair.
    overwrite
        Replace an existing bundle at ``path`` (atomically) instead of refusing.

    Returns
    -------
    Manifest
        The manifest written to ``path/bundle.json``.

    Raises
    ------
    PipelineError
        The pipeline is unfitted or not a classifier, or the data does not match it.
    BundleExistsError
        A bundle exists at ``path`` and ``overwrite`` is False.

    Examples
    --------
    >>> skbundle.save(pipe, "models/cancer", X_train=X_tr, y_train=y_tr,
    ...               X_test=X_te, y_test=y_te, name="breast-cancer", version="1.0.0")
    """
    target = Path(path)
    try:
        validate_identity(name, version)
    except ValueError as exc:
        raise PipelineError("name/version", "a valid bundle identity", str(exc)) from exc
    from skbundle.formats.joblib_format import compression_option

    try:
        compress = compression_option(compress)
    except ValueError as exc:
        raise PipelineError("compress", "a joblib compression option", str(exc)) from exc
    atomic.check_target(target, overwrite=overwrite, marker=MANIFEST_NAME)

    _check_pipeline(pipeline)
    train = _as_frame(X_train, "X_train", feature_names)
    test = _as_frame(X_test, "X_test", feature_names)
    _check_columns(pipeline, train, "X_train")
    if list(test.columns) != list(train.columns):
        raise PipelineError(
            "X_test columns",
            "the same columns as X_train, in the same order",
            f"{preview([str(c) for c in test.columns])}",
        )
    y_tr = _as_labels(y_train, "y_train", len(train), "X_train")
    y_te = _as_labels(y_test, "y_test", len(test), "X_test")
    class_values, classes = _class_names(pipeline, class_names)
    _check_labels(y_te, class_values, "y_test")
    _check_labels(y_tr, class_values, "y_train")

    created_at = datetime.now(timezone.utc).replace(microsecond=0).isoformat()
    names = [str(c) for c in train.columns]
    proba_test = reference(pipeline, test.to_numpy(dtype=np.float64, na_value=np.nan), names)
    proba_train = reference(pipeline, train.to_numpy(dtype=np.float64, na_value=np.nan), names)
    train_metrics = classification_metrics(y_tr, proba_train, class_values, classes)
    metrics = {
        "test": classification_metrics(y_te, proba_test, class_values, classes),
        "train": {"n_rows": train_metrics["n_rows"], "accuracy": train_metrics["accuracy"]},
    }

    def build(directory: Path) -> Manifest:
        ctx = BuildContext(
            directory=directory,
            pipeline=pipeline,
            name=name,
            version=version,
            description=description,
            created_at=created_at,
            X_train=train,
            y_train=y_tr,
            X_test=test,
            y_test=y_te,
            class_values=class_values,
            classes=classes,
            features=infer_schema(train),
            metrics=metrics,
            environment=environment.capture(_estimators(pipeline)),
            options={"compress": compress},
            proba_train=proba_train,
            proba_test=proba_test,
        )
        _write_formats(ctx)
        for writer in WRITERS:
            writer(ctx)
        manifest = ctx.manifest()
        write_manifest(directory, manifest)
        return manifest

    return atomic.write_directory(target, build, overwrite=overwrite, marker=MANIFEST_NAME)
