"""``skbundle export mlflow``: a bundle as an MLflow model directory.

::

    DIR/MLmodel            python_function flavour (loader skbundle.export.mlflow_flavor) and
                           a skbundle flavour (bundle name, version, format), the signature
                           from the bundle's schema, the input example
    DIR/bundle/            a verified copy of the bundle: the model MLflow serves
    DIR/input_example.json, serving_input_example.json
    DIR/requirements.txt   the runtime's pinned requirements, plus MLflow
    DIR/python_env.yaml, conda.yaml

``mlflow.pyfunc.load_model(DIR)`` and ``mlflow models serve -m DIR --env-manager local`` give
skbundle's own answers (see :mod:`skbundle.export.mlflow_flavor`).

The signature maps each feature to an MLflow column: numbers to ``double`` (``long`` for an
integer column), categories to ``string`` (``long`` when the categories are integers),
booleans to ``boolean``; a feature that allows missing values is optional.
"""

from __future__ import annotations

import os
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

from skbundle.core.atomic import write_directory
from skbundle.core.environment import missing_extra, skbundle_version
from skbundle.core.manifest import FeatureSpec, Manifest
from skbundle.export._files import (
    BUNDLE_DIR,
    choose_runtime,
    copy_bundle,
    python_version,
    runtime_requirements,
)

LOADER_MODULE = "skbundle.export.mlflow_flavor"
MLFLOW_IMPORT_WARNING = ".*Any type hint is inferred as AnyType"
"""What MLflow 3 warns about its own type hints when ``mlflow.pyfunc`` is first imported:
nothing the caller did or can fix."""
MLMODEL = "MLmodel"
EXAMPLE = "input_example.json"
SERVING_EXAMPLE = "serving_input_example.json"


@dataclass(frozen=True)
class MlflowExport:
    """What :func:`export_mlflow` wrote."""

    directory: Path
    runtime: str
    """The runtime ``skbundle.load`` picks for the bundle, which the model serves."""
    example_source: str
    """``manifest``: a real test-split record; ``schema``: built from the schema."""


def column_type(feature: FeatureSpec) -> str:
    """The MLflow column type of a feature (see the module docstring)."""
    if feature.kind == "boolean":
        return "boolean"
    if feature.kind == "categorical":
        values = feature.categories or []
        ints = values and all(isinstance(v, int) and not isinstance(v, bool) for v in values)
        return "long" if ints else "string"
    return "long" if feature.dtype.startswith(("int", "uint", "Int", "UInt")) else "double"


def schema_example(features: list[FeatureSpec]) -> dict[str, Any]:
    """One plausible record from the schema: each number's training mean (rounded for an
    integer column), each categorical's first category, booleans False."""
    record: dict[str, Any] = {}
    for f in features:
        kind = column_type(f)
        if f.kind == "categorical":
            record[f.name] = (f.categories or [""])[0]
        elif kind == "boolean":
            record[f.name] = False
        else:
            mean = f.mean if f.mean is not None else (f.min if f.min is not None else 0.0)
            record[f.name] = round(mean) if kind == "long" else float(mean)
    return record


def input_example(manifest: Manifest) -> tuple[dict[str, Any], str]:
    """The record to show: the manifest's ``example`` (a real test-split record) when it has
    one, else :func:`schema_example`; and which it was."""
    example = getattr(manifest, "example", None)
    if isinstance(example, dict) and set(example) == set(manifest.feature_names):
        return {name: example[name] for name in manifest.feature_names}, "manifest"
    return schema_example(list(manifest.features)), "schema"


def _signature(manifest: Manifest) -> Any:
    from mlflow.models.signature import ModelSignature
    from mlflow.types.schema import ColSpec, Schema

    columns = [
        ColSpec(column_type(f), f.name, required=not f.missing_allowed) for f in manifest.features
    ]
    return ModelSignature(inputs=Schema(columns))  # type: ignore[arg-type]


def _env_files(python: str, requirements: list[str]) -> dict[str, str]:
    req = "\n".join(requirements) + "\n"
    python_env = (
        f"python: {python}\nbuild_dependencies:\n- pip\ndependencies:\n- -r requirements.txt\n"
    )
    conda = (
        "channels:\n- conda-forge\ndependencies:\n"
        f"- python={python}\n- pip\n- pip:\n  - -r requirements.txt\nname: mlflow-env\n"
    )
    return {"requirements.txt": req, "python_env.yaml": python_env, "conda.yaml": conda}


def export_mlflow(
    bundle: str | os.PathLike[str],
    out: str | os.PathLike[str],
    *,
    overwrite: bool = False,
) -> MlflowExport:
    """Write ``bundle`` as an MLflow model directory ``out`` (see the module docstring).

    Parameters
    ----------
    bundle
        The bundle directory; it is verified, and copied from the verified bytes.
    out
        The MLflow model directory to write, atomically.
    overwrite
        Replace ``out`` if it is an MLflow model directory (holds ``MLmodel``).

    Returns
    -------
    MlflowExport

    Raises
    ------
    MissingExtraError
        MLflow is not installed (``pip install 'skbundle[mlflow]'``).
    BundleIntegrityError
        The bundle is damaged: nothing is written.
    ExportError
        The bundle's Python version or requirements are not what skbundle writes.

    Examples
    --------
    >>> export_mlflow("models/cancer", "mlflow/cancer")
    >>> mlflow.pyfunc.load_model("mlflow/cancer").predict(frame)
    """
    try:
        # Imported here: MLflow is an optional extra, and slow to import.
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message=MLFLOW_IMPORT_WARNING, category=UserWarning)
            import mlflow.pyfunc
        from mlflow.models import Model
    except ImportError as exc:
        raise (missing_extra(exc, "skbundle export mlflow") or exc) from exc
    target = Path(out)

    def build(tmp: Path) -> MlflowExport:
        manifest = copy_bundle(bundle, tmp / BUNDLE_DIR)
        runtime = choose_runtime(manifest, "auto", trust_pickle=False)
        python = python_version(manifest)
        pins = runtime_requirements(tmp / BUNDLE_DIR, runtime).pins
        pins.setdefault("mlflow-skinny", mlflow.__version__)
        for relpath, text in _env_files(python, [f"{k}=={v}" for k, v in pins.items()]).items():
            (tmp / relpath).write_text(text, encoding="utf-8")
        model = Model(signature=_signature(manifest))
        mlflow.pyfunc.add_to_model(
            model,
            loader_module=LOADER_MODULE,
            data=BUNDLE_DIR,
            conda_env="conda.yaml",
            python_env="python_env.yaml",
        )
        model.add_flavor(
            "skbundle",
            bundle=BUNDLE_DIR,
            bundle_name=manifest.name,
            bundle_version=manifest.version,
            format_version=manifest.format_version,
            runtime=runtime,
            skbundle_version=skbundle_version(),
        )
        record, source = input_example(manifest)
        # MLflow's "split" DataFrame example, as its own _save_example writes it.
        split = {"columns": manifest.feature_names, "data": [list(record.values())]}
        (tmp / EXAMPLE).write_bytes(orjson.dumps(split))
        (tmp / SERVING_EXAMPLE).write_bytes(
            orjson.dumps({"dataframe_split": split}, option=orjson.OPT_INDENT_2)
        )
        model.saved_input_example_info = {
            "artifact_path": EXAMPLE,
            "type": "dataframe",
            "pandas_orient": "split",
            "serving_input_path": SERVING_EXAMPLE,
        }
        model.save(str(tmp / MLMODEL))
        return MlflowExport(target, runtime, source)

    return write_directory(target, build, overwrite=overwrite, marker=MLMODEL)
