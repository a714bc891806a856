"""The worked example: breast-cancer diagnosis, from fit to a verified, reloaded bundle.

Every figure in the report is computed in this run; nothing is printed as a constant. The CLI
(``skbundle demo``) renders the report; the library itself never prints.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from skbundle import bench
from skbundle.build.persistence import PersistenceRow, compare
from skbundle.build.save import save
from skbundle.bundle import Bundle, load
from skbundle.core.manifest import Manifest, read_manifest
from skbundle.core.runtime import Signature
from skbundle.errors import InputValidationError
from skbundle.monitor.drift import drift
from skbundle.monitor.report import DriftReport
from skbundle.readiness.check import check

BUNDLE_NAME = "breast-cancer"
BUNDLE_VERSION = "1.0.0"
RANDOM_STATE = 42


@dataclass(frozen=True)
class Dataset:
    n_samples: int
    n_features: int
    classes: list[str]
    class_counts: dict[str, int]
    first_features: list[str]
    source: str = "sklearn.datasets.load_breast_cancer (UCI ML Breast Cancer Wisconsin)"


@dataclass(frozen=True)
class Split:
    n_train: int
    n_test: int
    share_train: dict[str, float]
    share_test: dict[str, float]


@dataclass
class DemoReport:
    """Everything the demo did and measured, in the order it happened."""

    dataset: Dataset
    split: Split
    steps: list[str]
    train_accuracy: float
    test_accuracy: float
    bundle_path: Path
    manifest: Manifest
    runtime: str
    runtime_reason: str
    reloaded_accuracy: float
    identical: bool
    max_abs_diff: float
    samples: list[dict[str, Any]]
    invalid_input_error: str
    out_of_range_warnings: list[str]
    persistence: list[PersistenceRow]
    drift: list[tuple[str, DriftReport]] = field(default_factory=list)
    extras: dict[str, Any] = field(default_factory=dict)


POSITIVE_CLASS = "malignant"
"""The class the report's curves and sensitivity are about: the finding a miss would cost."""
DESCRIPTION = (
    "Breast-cancer diagnosis (malignant/benign) from 30 measurements of the cell nuclei in a "
    "digitized image of a fine needle aspirate (FNA) of a breast mass; the skbundle worked "
    "example. The dataset states no units for the measurements."
)
_STATISTICS = {
    "mean": "Mean over the cell nuclei in the image.",
    "error": "Standard error over the cell nuclei in the image.",
    "worst": 'Worst ("largest"): the mean of the three largest values among the cell nuclei '
    "in the image.",
}
_MEASUREMENT = re.compile(r"^\s*- ([a-z][a-z ]*?)(?: \((.+)\))?\s*$")


def feature_descriptions(descr: str, columns: list[str]) -> dict[str, str]:
    """What each of the 30 features means, from the dataset's own description (``DESCR``).

    ``DESCR`` lists the ten measurements of a nucleus (``- radius (mean of distances from
    center to points on the perimeter)``) and says that the mean, the standard error and the
    "worst" (mean of the three largest values) of each were computed per image; the columns
    are named ``mean radius``, ``radius error`` and ``worst radius``. A column whose
    measurement ``DESCR`` does not list gets no description.
    """
    section = descr.split(":Attribute Information:", 1)[-1].split("- class:", 1)[0]
    measured: dict[str, str] = {}
    for line in section.splitlines():
        match = _MEASUREMENT.match(line)
        if match:
            name, detail = match.group(1), match.group(2)
            measured[name] = f"{name.capitalize()}" + (f": {detail}." if detail else ".")
    out = {}
    for column in columns:
        for statistic, text in _STATISTICS.items():
            prefix, suffix = f"{statistic} ", f" {statistic}"
            if column.startswith(prefix):
                base = column[len(prefix) :]
            elif column.endswith(suffix):
                base = column[: -len(suffix)]
            else:
                continue
            if base in measured:
                out[column] = f"{measured[base]} {text}"
    return out


def load_data() -> tuple[pd.DataFrame, np.ndarray, list[str]]:
    """The bundled breast-cancer data: features as a DataFrame, labels, class names."""
    from sklearn.datasets import load_breast_cancer

    data = load_breast_cancer(as_frame=True)
    return data.data, data.target.to_numpy(), [str(n) for n in data.target_names]


def make_pipeline() -> Any:
    """StandardScaler -> RandomForestClassifier(100 trees), as in the lesson."""
    from sklearn.ensemble import RandomForestClassifier
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import StandardScaler

    return Pipeline(
        [
            ("scaler", StandardScaler()),
            ("model", RandomForestClassifier(n_estimators=100, random_state=RANDOM_STATE)),
        ]
    )


def split(
    X: pd.DataFrame, y: np.ndarray
) -> tuple[pd.DataFrame, pd.DataFrame, np.ndarray, np.ndarray]:
    """Stratified 80/20 split, random_state=42."""
    from sklearn.model_selection import train_test_split

    X_train, X_test, y_train, y_test = train_test_split(
        X, y, test_size=0.2, random_state=RANDOM_STATE, stratify=y
    )
    return X_train, X_test, y_train, y_test


@dataclass(frozen=True)
class Fitted:
    """The worked example, fitted: the pipeline, its stratified split and the class names."""

    pipeline: Any
    X_train: pd.DataFrame
    X_test: pd.DataFrame
    y_train: np.ndarray
    y_test: np.ndarray
    names: list[str]

    def save(self, path: str | Path, **options: Any) -> Manifest:
        """Bundle it as ``breast-cancer`` at ``path``, with the dataset's feature descriptions,
        malignant as the positive class and the demo's description; ``options`` go to
        :func:`skbundle.save` (and override those)."""
        from sklearn.datasets import load_breast_cancer

        described = feature_descriptions(
            load_breast_cancer().DESCR, [str(c) for c in self.X_train.columns]
        )
        chosen: dict[str, Any] = {
            "feature_descriptions": described,
            "positive_class": POSITIVE_CLASS,
            "description": DESCRIPTION,
            **options,
        }
        return save(
            self.pipeline,
            path,
            X_train=self.X_train,
            y_train=self.y_train,
            X_test=self.X_test,
            y_test=self.y_test,
            name=BUNDLE_NAME,
            version=BUNDLE_VERSION,
            class_names=self.names,
            **chosen,
        )


def fit(data: tuple[pd.DataFrame, np.ndarray, list[str]] | None = None) -> Fitted:
    """Split the data (default: :func:`load_data`) 80/20, stratified with random_state=42,
    and fit the pipeline."""
    X, y, names = data if data is not None else load_data()
    X_train, X_test, y_train, y_test = split(X, y)
    pipeline = make_pipeline().fit(X_train, y_train)
    return Fitted(pipeline, X_train, X_test, y_train, y_test, names)


def _shares(y: np.ndarray, names: list[str]) -> dict[str, float]:
    return {name: float(np.mean(y == i)) for i, name in enumerate(names)}


def run(
    out: str | Path = "models", *, repeat: int = 3, readiness: bool = True, bench_n: int = 1000
) -> DemoReport:
    """Fit, bundle, reload, verify and exercise the breast-cancer model.

    Parameters
    ----------
    out
        Folder for the bundle; it is written to ``out/breast-cancer`` (replaced if present).
    repeat
        Repetitions for each timing of the persistence comparison (the best is kept).
    readiness
        Also benchmark the bundle and compute its deployment checklist (stored in the bundle,
        shown in its report); ``extras["bench"]`` and ``extras["checklist"]`` hold them.
    bench_n
        Single-row calls timed per runtime by the benchmark.
    """
    X, y, names = load_data()
    dataset = Dataset(
        n_samples=len(X),
        n_features=X.shape[1],
        classes=names,
        class_counts={name: int(np.sum(y == i)) for i, name in enumerate(names)},
        first_features=[str(c) for c in X.columns[:10]],
    )
    fitted = fit((X, y, names))
    pipeline = fitted.pipeline
    X_train, X_test, y_train, y_test = fitted.X_train, fitted.X_test, fitted.y_train, fitted.y_test
    path = Path(out) / BUNDLE_NAME
    manifest = fitted.save(path, overwrite=True)
    # No trust needed: auto picks the ONNX model, which runs no code on load and whose
    # parity with the fitted pipeline was measured exact at save time.
    bundle: Bundle = load(path)
    original = pipeline.predict_proba(X_test)
    reloaded = bundle.predict_proba(X_test)
    labels = reloaded.argmax(axis=1)

    samples = []
    for (_, row), truth in zip(X_test.iloc[:3].iterrows(), y_test[:3], strict=True):
        result = bundle.predict(row.to_dict())[0]
        samples.append({**result, "actual": names[int(truth)]})

    bad = X_test.iloc[0].to_dict()
    bad["mean radius"] = "14.2"
    del bad["worst area"]
    try:
        bundle.predict(bad)
        invalid = "(accepted: this should not happen)"
    except InputValidationError as exc:
        invalid = str(exc)

    odd = X_test.iloc[0].to_dict()
    odd["mean area"] = float(X_train["mean area"].max() * 10)
    out_of_range = bundle.predict(odd)[0]["warnings"]

    drift = drift_scenarios(bundle, X_test, y_test)

    persistence = compare(
        pipeline,
        repeat=repeat,
        sample=X_train.to_numpy(dtype=np.float64),
        signature=Signature.of(bundle.manifest),
    )
    extras: dict[str, Any] = {}
    if readiness:
        from dataclasses import asdict, replace

        measured = bench.run(path, n=bench_n, trust_pickle=True, persistence=False)
        measured = replace(measured, persistence=[asdict(row) for row in persistence])
        bench.store(path, measured)
        extras["bench"] = measured
        extras["checklist"] = check(path, trust_pickle=True).checklist
        manifest = read_manifest(path)
        extras["registry"] = register(path, Path(out) / REGISTRY_NAME)

    return DemoReport(
        dataset=dataset,
        split=Split(len(X_train), len(X_test), _shares(y_train, names), _shares(y_test, names)),
        steps=[f"{name}: {type(step).__name__}" for name, step in pipeline.steps],
        train_accuracy=float(pipeline.score(X_train, y_train)),
        test_accuracy=float(pipeline.score(X_test, y_test)),
        bundle_path=path,
        manifest=manifest,
        runtime=bundle.runtime.format,
        runtime_reason=bundle.runtime.reason,
        reloaded_accuracy=float(np.mean(labels == y_test)),
        identical=bool(np.array_equal(original, reloaded)),
        max_abs_diff=float(np.max(np.abs(original - reloaded))),
        samples=samples,
        invalid_input_error=invalid,
        out_of_range_warnings=out_of_range,
        persistence=persistence,
        drift=drift,
        extras=extras,
    )


def drift_scenarios(
    bundle: Bundle, X_test: pd.DataFrame, y_test: np.ndarray
) -> list[tuple[str, DriftReport]]:
    """The lesson's drift check, and more: the same new data three ways.

    The held-out split itself (nothing should move); one feature shifted by two training
    standard deviations (data drift, found without labels); 15% of the labels flipped
    (performance drift: the lesson's "accuracy 0.05 below the baseline" alarm).
    """
    feature = "worst radius"
    std = next(f.std for f in bundle.manifest.features if f.name == feature) or 0.0
    shifted = X_test.assign(**{feature: X_test[feature] + 2 * std})
    rng = np.random.default_rng(RANDOM_STATE)
    flipped = y_test.copy()
    chosen = rng.random(len(flipped)) < 0.15
    flipped[chosen] = 1 - flipped[chosen]
    return [
        ("held-out test split, with its labels", drift(bundle, X_test, y_test)),
        (f"'{feature}' shifted by +2 standard deviations", drift(bundle, shifted)),
        ("15% of the labels flipped", drift(bundle, X_test, flipped)),
    ]


REGISTRY_NAME = "skbundle-registry"
"""The demo's registry, inside its output folder: ``models/skbundle-registry``."""


@dataclass(frozen=True)
class RegistryStep:
    """What the demo did in its registry: the version pushed and the gated alias move."""

    location: str
    version: Any  # skbundle.registry.ModelVersion
    event: Any  # skbundle.registry.AliasEvent, or None when the gate refused the move
    refused: str = ""  # the gate's refusal, when it refused (e.g. latency over budget here)


def register(bundle_dir: Path, location: Path) -> RegistryStep | str:
    """Push the demo bundle into a fresh registry at ``location`` and move ``@production`` to
    it through the gate (its readiness checklist). Returns what happened, or why it was skipped.

    The registry is the demo's own, replaced on every run like the bundle: each run builds a
    new 1.0.0 (a new ``created_at``), and a registry refuses a version pushed again with other
    bytes. A folder at ``location`` that is not a registry is never removed.
    """
    try:
        # Start-up time and an optional extra: SQLAlchemy and Alembic load only here.
        from skbundle.lifecycle import promote
        from skbundle.registry import Registry
    except ImportError as exc:
        return f"the registry extra is not installed ({exc.name}): pip install 'skbundle[registry]'"
    import shutil

    if (location / "registry.db").is_file():
        shutil.rmtree(location)
    from skbundle.errors import PromotionRefusedError

    with Registry.open(location) as registry:
        version = registry.push(bundle_dir)
        try:
            event = promote(
                registry,
                version.name,
                "production",
                version.version,
                reason="skbundle demo: the worked example, gated by its checklist",
            )
        except PromotionRefusedError as exc:  # a finding of this run, shown as such
            return RegistryStep(str(location), version, None, refused=str(exc))
    return RegistryStep(str(location), version, event)
