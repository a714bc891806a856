"""Make the small bundles kept under tests/data/bundles/, one folder per skbundle release.

Each bundle is loaded by tests/test_old_bundles.py in every CI run, so a change that stops
skbundle from reading a bundle it once wrote fails loudly. Run this once per release, with
that release installed, and commit the new folder; never regenerate an existing one.

    .venv/bin/python tests/data/make_bundles.py
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import orjson
from sklearn.datasets import load_iris
from sklearn.ensemble import RandomForestClassifier
from sklearn.model_selection import train_test_split
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler

import skbundle

ROOT = Path(__file__).parent / "bundles"


def main() -> None:
    folder = ROOT / f"skbundle-{skbundle.__version__}"
    if folder.exists():
        raise SystemExit(f"{folder} exists: bundles of a release are never regenerated")
    data = load_iris(as_frame=True)
    X_train, X_test, y_train, y_test = train_test_split(
        data.data, data.target, test_size=0.3, random_state=0, stratify=data.target
    )
    pipe = Pipeline(
        [
            ("scale", StandardScaler()),
            ("model", RandomForestClassifier(n_estimators=5, max_depth=3, random_state=0)),
        ]
    ).fit(X_train, y_train)
    path = folder / "iris-forest"
    skbundle.save(
        pipe,
        path,
        X_train=X_train,
        y_train=y_train,
        X_test=X_test,
        y_test=y_test,
        name="iris-forest",
        version="1.0.0",
        class_names=list(data.target_names),
    )
    records = X_test.iloc[:10].to_dict(orient="records")
    expected = {
        "records": records,
        "probabilities": pipe.predict_proba(X_test.iloc[:10]).tolist(),
    }
    (folder / "iris-forest.expected.json").write_bytes(
        orjson.dumps(expected, option=orjson.OPT_INDENT_2 | orjson.OPT_SERIALIZE_NUMPY)
    )
    assert np.array_equal(
        skbundle.load(path).predict_proba(records), pipe.predict_proba(X_test.iloc[:10])
    )
    print(f"wrote {folder}")


if __name__ == "__main__":
    main()
