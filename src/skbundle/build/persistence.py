"""Measured comparison of ways to persist a pipeline: separate files vs one, compression levels,
and every registered model format.

The seed lesson saves the scaler and the model separately, then as one Pipeline, then with
joblib compression 0/3/9; this measures each (size, save time, load time) instead of quoting,
then saves the pipeline with each handler in ``skbundle.formats.FORMATS`` the way a bundle
does (load time there is the handler building its runtime from the bytes).
"""

from __future__ import annotations

import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import joblib
import numpy as np

from skbundle.core.runtime import Signature
from skbundle.errors import FormatUnavailable
from skbundle.formats import FORMATS, FormatHandler, SaveContext


@dataclass(frozen=True)
class PersistenceRow:
    """One way of saving: how many files, how many bytes, and the best of N save/load times."""

    method: str
    files: int
    bytes: int
    save_ms: float
    load_ms: float


def _best_ms(action: Callable[[], object], repeat: int) -> float:
    best = float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        action()
        best = min(best, time.perf_counter() - start)
    return best * 1000.0


def _measure(
    method: str, objects: Sequence[Any], compress: int, folder: Path, repeat: int
) -> PersistenceRow:
    paths = [folder / f"{method.replace(' ', '_')}-{i}.joblib" for i in range(len(objects))]

    def save() -> None:
        for obj, path in zip(objects, paths, strict=True):
            joblib.dump(obj, path, compress=compress)

    def load() -> None:
        for path in paths:
            joblib.load(path)  # our own files, written a moment ago in a private directory

    save_ms = _best_ms(save, repeat)
    load_ms = _best_ms(load, repeat)
    size = sum(p.stat().st_size for p in paths)
    return PersistenceRow(method, len(paths), size, save_ms, load_ms)


def _measure_format(
    name: str,
    handler: FormatHandler,
    pipeline: Any,
    context: SaveContext,
    folder: Path,
    repeat: int,
) -> PersistenceRow | None:
    target = folder / f"format-{name}"
    target.mkdir()
    written: list[Path] = []

    def save() -> None:
        written[:] = [handler.save(pipeline, target, context)]

    try:
        save_ms = _best_ms(save, repeat)
    except FormatUnavailable:
        return None
    data = written[0].read_bytes()
    # Our own file, written a moment ago in a private directory: trusted.
    signature = context.signature
    load_ms = _best_ms(
        lambda: handler.load(data, source=str(written[0]), signature=signature), repeat
    )
    return PersistenceRow(f"format {name} ({written[0].name})", 1, len(data), save_ms, load_ms)


def compare(
    pipeline: Any,
    *,
    levels: Sequence[int] = (0, 3, 9),
    repeat: int = 3,
    sample: np.ndarray | None = None,
    signature: Signature | None = None,
) -> list[PersistenceRow]:
    """Save ``pipeline`` in each way into a temporary directory, measuring size and time.

    When ``pipeline`` has steps, the first row saves each step to its own file (the
    "separate scaler and model" approach); then one row per joblib compression level; then,
    when ``sample`` (float input in schema order, categories as codes) and the bundle's
    ``signature`` are given, one row per registered model format, saved with the bundle's own
    handler.
    """
    rows = []
    with tempfile.TemporaryDirectory(prefix="skbundle-persist-") as tmp:
        folder = Path(tmp)
        steps = getattr(pipeline, "steps", None)
        if steps:
            names = " + ".join(name for name, _ in steps)
            rows.append(
                _measure(
                    f"separate files ({names}), compress=0",
                    [step for _, step in steps],
                    0,
                    folder,
                    repeat,
                )
            )
        for level in levels:
            rows.append(
                _measure(f"one Pipeline file, compress={level}", [pipeline], level, folder, repeat)
            )
        if sample is not None and signature is not None:
            context = SaveContext(tuple(f.name for f in signature.features), sample, {}, signature)
            for name, handler in FORMATS.items():
                row = _measure_format(name, handler, pipeline, context, folder, repeat)
                if row is not None:
                    rows.append(row)
    return rows
