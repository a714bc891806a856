"""Stand-in for ``skbundle.batch.score_frame`` until the batch branch is merged.

Exactly the signature of design-r3.md, built on ``Bundle.predict`` + ``batch.flatten``: slow
(one dict per row) but correct and bit-identical to ``Bundle.predict`` by construction. The
merger deletes this module and points ``skbundle.dask`` and ``skbundle.spark`` at
``skbundle.batch.score_frame``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from skbundle.batch import flatten
from skbundle.errors import BatchInputError, InputValidationError, SourceValidationError

if TYPE_CHECKING:
    import pandas as pd

DEFAULT_COLUMNS = ("prediction", "confidence", "probabilities", "decision", "interval", "warnings")


def _groups(flat_names: Sequence[str]) -> dict[str, list[str]]:
    """The output columns of each group name, from one flattened result's keys."""
    groups: dict[str, list[str]] = {name: [] for name in DEFAULT_COLUMNS}
    for name in flat_names:
        if name == "row":
            continue
        if name.startswith("p_"):
            groups["probabilities"].append(name)
        elif name == "decision" or name.startswith("decision_"):
            groups["decision"].append(name)
        elif name.startswith("interval_"):
            groups["interval"].append(name)
        else:
            groups[name].append(name)
    return groups


def _applies(manifest: Any) -> set[str]:
    output = manifest.output
    names = {"prediction", "warnings"}
    if output == "probabilities":
        names |= {"confidence", "probabilities"}
    elif output == "labels":
        names.add("decision")
    elif manifest.interval is not None:
        names.add("interval")
    return names


def score_frame(
    bundle: Any,
    frame: pd.DataFrame,
    *,
    offset: int = 0,
    source: str = "",
    columns: Sequence[str] = DEFAULT_COLUMNS,
    keep: Sequence[str] = (),
    ignore_unknown: bool = False,
) -> pd.DataFrame:
    """Validate and predict a frame; the output table of design-r3.md (see module docstring)."""
    import pandas as pd

    unknown = sorted(set(columns) - set(DEFAULT_COLUMNS))
    if unknown:
        raise BatchInputError(
            source or "the input",
            f"unknown output columns {unknown}",
            f"Choose from {list(DEFAULT_COLUMNS)}.",
        )
    explicit = tuple(columns) != DEFAULT_COLUMNS
    applies = _applies(bundle.manifest)
    if explicit and set(columns) - applies:
        raise BatchInputError(
            source or "the input",
            f"the bundle {bundle.name!r} gives no {sorted(set(columns) - applies)}",
            f"It gives {sorted(applies)}; leave the others out.",
        )
    absent = [k for k in keep if k not in frame.columns]
    if absent:
        raise BatchInputError(
            source or "the input",
            f"no column {absent[0]!r} to keep",
            f"It has {list(frame.columns)[:10]}.",
        )
    names = set(bundle.feature_names)
    features = frame[[c for c in frame.columns if c in names]] if not ignore_unknown else frame
    try:
        results = bundle.predict(features, offset=offset, ignore_unknown=ignore_unknown)
    except InputValidationError as exc:
        if not source:
            raise
        raise SourceValidationError(
            bundle.name, source, exc.problems, truncated=exc.truncated
        ) from None
    flat = [flatten(r, offset + i) for i, r in enumerate(results)]
    groups = _groups(list(flat[0]) if flat else [])
    wanted = [c for group in columns if group in applies for c in groups[group]]
    table: pd.DataFrame = (
        pd.DataFrame(flat, columns=["row", *wanted])
        if flat
        else pd.DataFrame({"row": pd.Series([], dtype="int64")})
    )
    for name in reversed(keep):
        table.insert(1, name, frame[name].to_numpy())
    return table
