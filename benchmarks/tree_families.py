"""Exact ONNX per tree family: parity, the runtime auto picks, single-row and batch speed.

Run from the repository root with the project's virtualenv:

    .venv/bin/python benchmarks/tree_families.py

Each pipeline is fitted on scikit-learn's bundled breast-cancer data (stratified 80/20 split,
random_state=42; "NaN" variants have 10% of the values missing and no imputer), saved with
``skbundle.save``, and loaded with ``runtime="auto"`` and ``runtime="skops"``. Measured in one
process, alternating the pipelines in rounds: ``Bundle.predict(dict)`` p50 per runtime, and
ONNX batch throughput over the test split repeated to 100,000 rows. Target (issue 15): every
tree family served by ONNX, bit-identical, with a single-row p50 within 2x of the demo forest's.
"""

from __future__ import annotations

import statistics
import tempfile
import time
import warnings
from pathlib import Path
from typing import Any

import numpy as np
from sklearn.datasets import load_breast_cancer
from sklearn.ensemble import (
    ExtraTreesClassifier,
    GradientBoostingClassifier,
    HistGradientBoostingClassifier,
    RandomForestClassifier,
)
from sklearn.model_selection import train_test_split
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.tree import DecisionTreeClassifier

import skbundle

PIPELINES: dict[str, tuple[Any, bool]] = {
    "demo: scaler + forest(100)": (
        make_pipeline(StandardScaler(), RandomForestClassifier(100, random_state=42)),
        False,
    ),
    "extra trees(100)": (ExtraTreesClassifier(100, random_state=0), False),
    "decision tree": (DecisionTreeClassifier(random_state=0), False),
    "forest(100), NaN": (RandomForestClassifier(100, random_state=0), True),
    "scaler + gradient boosting(100)": (
        make_pipeline(StandardScaler(), GradientBoostingClassifier(random_state=0)),
        False,
    ),
    "hist gradient boosting(100)": (HistGradientBoostingClassifier(random_state=0), False),
    "hist gradient boosting(100), NaN": (HistGradientBoostingClassifier(random_state=0), True),
}


def _time(fn: Any, arg: Any, n: int) -> list[float]:
    out = []
    for _ in range(n):
        start = time.perf_counter_ns()
        fn(arg)
        out.append((time.perf_counter_ns() - start) / 1000.0)
    return out


def main() -> None:
    data = load_breast_cancer(as_frame=True)
    rows = []
    with tempfile.TemporaryDirectory(prefix="skbundle-trees-") as tmp:
        bundles = {}
        for name, (pipeline, missing) in PIPELINES.items():
            X = data.data.mask(np.random.default_rng(0).random(data.data.shape) < 0.1)
            X = X if missing else data.data
            X_tr, X_te, y_tr, y_te = train_test_split(
                X, data.target, test_size=0.2, random_state=42, stratify=data.target
            )
            pipeline.fit(X_tr, y_tr)
            path = Path(tmp) / str(len(bundles))
            start = time.perf_counter()
            manifest = skbundle.save(
                pipeline, path, X_train=X_tr, y_train=y_tr, X_test=X_te, y_test=y_te, name="t"
            )
            save_s = time.perf_counter() - start
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                auto = skbundle.load(path)
                skops = skbundle.load(path, runtime="skops")
            record = X_te.iloc[0].to_dict()
            batch = X_te.iloc[np.arange(100_000) % len(X_te)].reset_index(drop=True)
            bundles[name] = (manifest, auto, skops, record, batch, save_s)
        single: dict[str, dict[str, list[float]]] = {n: {"auto": [], "skops": []} for n in bundles}
        for _ in range(5):  # rounds, alternating the pipelines
            for name, (_, auto, skops, record, _, _) in bundles.items():
                single[name]["auto"] += _time(auto.predict, record, 400)
                single[name]["skops"] += _time(skops.predict, record, 20)
        for name, (manifest, auto, _, _, batch, save_s) in bundles.items():
            checked = auto.validate(batch)
            start = time.perf_counter()
            auto.predict_validated(checked)
            rows_s = len(checked.X) / (time.perf_counter() - start)
            parity = manifest.parity["onnx"]
            rows.append(
                (
                    name,
                    "yes" if parity.exact else f"no ({parity.max_abs_diff:.1e})",
                    f"{parity.label_agreement:.2%}",
                    {k: v.n_rows for k, v in parity.sets.items()},
                    auto.runtime.format,
                    statistics.median(single[name]["auto"]),
                    statistics.median(single[name]["skops"]),
                    rows_s,
                    save_s,
                )
            )
    demo = rows[0][5]
    print(
        "| pipeline | ONNX exact | labels | parity rows (test, missing, boundary) | auto | "
        "predict(dict) p50, auto | vs demo | p50, skops | ONNX batch rows/s | save s |"
    )
    print("|---|---|---|---|---|---:|---:|---:|---:|---:|")
    for name, exact, labels, sets, runtime, p50, skops_p50, rows_s, save_s in rows:
        counts = f"{sets.get('test', 0)}, {sets.get('missing', 0)}, {sets.get('boundary', 0)}"
        print(
            f"| {name} | {exact} | {labels} | {counts} | {runtime} | {p50:.1f} us | "
            f"{p50 / demo:.2f}x | {skops_p50:,.0f} us | {rows_s:,.0f} | {save_s:.2f} |"
        )


if __name__ == "__main__":
    main()
