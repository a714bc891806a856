"""The zoo (tests/zoo.py) as users bring it: save time, the runtime auto picks, exactness, and
single-row and batch speed per runtime.

Run from the repository root with the project's virtualenv:

    .venv/bin/python benchmarks/zoo.py [--rounds 200] [--only ID ...] [--markdown]

For each pipeline: ``skbundle.save`` wall time (the second of two saves, so the first pays the
one-off imports), and where it goes (the format files with their parity, the reports, the
rest); the runtime ``load()`` picks with no flags; whether every recorded parity set is exact
for it; how exact the ONNX file is (exact on every parity set; or the largest difference and
the label agreement the manifest records, with the largest gap on the test split in ulps of
each row's largest value; or why no ONNX file was written); ``Bundle.predict(dict)`` p50 per
loadable runtime (onnx, skops, and joblib with ``trust_pickle``), one test record at a time,
rounds interleaved across runtimes; batch rows/s per runtime on the test split repeated to
20,000 rows. Targets (issue 11): the demo saves in 1 s, no zoo pipeline over 5 s. Every fit
and prediction runs on one thread (OpenMP threads crawl on a shared 2-core machine; the
numbers are the same).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
import warnings
from pathlib import Path
from typing import Any

import numpy as np
from threadpoolctl import threadpool_limits

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import skbundle
from skbundle.build import models, writers
from tests.zoo import CASES, Case, Fitted

TRUST = ["tests.custom_steps.Log1p", "lightgbm.basic.Booster", "xgboost.core.Booster"]
"""Trusted for the skops and joblib timings: this run wrote the files."""


def _records(fitted: Fitted) -> list[dict[str, Any]]:
    rows = []
    for row in fitted.X_test.astype(object).to_dict(orient="records"):
        clean = {}
        for k, v in row.items():
            v = v.item() if isinstance(v, np.generic) else v
            clean[k] = None if v is None or (isinstance(v, float) and v != v) else v
        rows.append(clean)
    return rows


class _Clock:
    """Wall time spent in the format writers and the report writers during one save."""

    def __init__(self) -> None:
        self.spent: dict[str, float] = {}

    def timed(self, original: Any, label: str) -> Any:
        def timed(*args: Any, **kwargs: Any) -> Any:
            start = time.perf_counter()
            try:
                return original(*args, **kwargs)
            finally:
                self.spent[label] = self.spent.get(label, 0.0) + time.perf_counter() - start

        return timed


def _save(case: Case, fitted: Fitted, root: Path, clock: _Clock) -> tuple[Path, float]:
    path = root / case.id
    for attempt in range(2):
        clock.spent.clear()
        start = time.perf_counter()
        skbundle.save(
            fitted.pipeline,
            path,
            X_train=fitted.X_train,
            y_train=fitted.y_train,
            X_test=fitted.X_test,
            y_test=fitted.y_test,
            name=case.id,
            overwrite=attempt > 0,
        )
        seconds = time.perf_counter() - start
    return path, seconds


def _p50_us(bundle: Any, records: list[dict[str, Any]], rounds: int) -> float:
    times = []
    for i in range(rounds):
        record = records[i % len(records)]
        start = time.perf_counter_ns()
        bundle.predict(record)
        times.append(time.perf_counter_ns() - start)
    return statistics.median(times) / 1000


def _onnx_parity(path: Path, fitted: Fitted) -> str:
    """The ONNX file's exactness as the manifest records it, and its largest gap in ulps
    (differences over the spacing of the fitted pipeline's value) on the test split."""
    from skbundle.build.parity import FittedModel
    from skbundle.core.codes import Codec

    manifest = skbundle.load(path, runtime="skops", trusted_types=TRUST).manifest
    parity = manifest.parity.get("onnx")
    if parity is None:
        why = manifest.unavailable_formats.get("onnx", "not written")
        return f"no file ({why.split('(')[-1].split(')')[0][:60]})"
    if parity.exact:
        return "exact"
    onnx = skbundle.load(path, runtime="onnx")
    codec = Codec(manifest.features)
    X = onnx.validate(fitted.X_test).X
    got = onnx._predictor.predict_output(X)  # the runtime's raw layout, as parity compares
    want = FittedModel(fitted.pipeline, codec, manifest.output).predict_output(X)
    # in ulps of each row's largest value: a probability of 1e-20 off by 1e-17 is no news
    scale = np.spacing(np.nanmax(np.abs(want), axis=1, keepdims=True))
    with np.errstate(all="ignore"):
        ulps = np.abs(got - want) / scale
    gap = float(np.nanmax(ulps)) if ulps.size else 0.0
    meta = onnx._predictor.session.get_modelmeta().custom_metadata_map
    return (
        f"{meta.get('skbundle.converter', '?')}: max diff {parity.max_abs_diff:.1e}, "
        f"labels {parity.label_agreement:.1%}, {gap:,.0f} ulp on test"
    )


def _rows_per_s(bundle: Any, records: list[dict[str, Any]]) -> float:
    batch = (records * (20_000 // len(records) + 1))[:20_000]
    checked = bundle.validate(batch)
    start = time.perf_counter()
    bundle.predict_validated(checked)
    return len(batch) / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=200)
    parser.add_argument("--only", nargs="*", default=[])
    parser.add_argument("--markdown", action="store_true")
    args = parser.parse_args()
    warnings.simplefilter("ignore")
    clock = _Clock()
    save_module = sys.modules["skbundle.build.save"]
    save_module.write_formats = clock.timed(models.write_formats, "formats")  # type: ignore[attr-defined]
    writers.WRITERS[:] = [
        clock.timed(w, "reports") if w is writers.write_reports else w for w in writers.WRITERS
    ]
    rows = []
    with tempfile.TemporaryDirectory() as tmp, threadpool_limits(limits=1):
        root = Path(tmp)
        for case in CASES:
            if args.only and case.id not in args.only:
                continue
            fitted = case.build()
            path, seconds = _save(case, fitted, root, clock)
            auto = skbundle.load(path, trusted_types=TRUST[:1] if case.custom else [])
            manifest = auto.manifest
            exact = manifest.parity[auto.runtime.format].exact
            records = _records(fitted)
            speeds: dict[str, tuple[float, float]] = {}
            for runtime in ("onnx", "skops", "joblib"):
                if manifest.artifact("model") is None or runtime not in {
                    a.format for a in manifest.artifacts if a.role == "model"
                }:
                    continue
                bundle = skbundle.load(
                    path, runtime=runtime, trust_pickle=True, trusted_types=TRUST
                )
                speeds[runtime] = (
                    _p50_us(bundle, records, args.rounds),
                    _rows_per_s(bundle, records),
                )
            onnx_parity = _onnx_parity(path, fitted)
            rows.append(
                {
                    "onnx_parity": onnx_parity,
                    "id": case.id,
                    "task": case.task,
                    "save_s": seconds,
                    "formats_s": clock.spent.get("formats", 0.0),
                    "reports_s": clock.spent.get("reports", 0.0),
                    "auto": auto.runtime.format,
                    "exact": exact,
                    "speeds": speeds,
                }
            )
            line = " ".join(f"{k}={v[0]:.0f}us/{v[1]:.0f}rps" for k, v in speeds.items())
            print(
                f"{case.id:40s} save {seconds:5.2f}s (formats {clock.spent.get('formats', 0):.2f}, "
                f"reports {clock.spent.get('reports', 0):.2f}) auto={auto.runtime.format:5s} "
                f"exact={exact} onnx={onnx_parity} {line}",
                flush=True,
            )
    if args.markdown:
        print()
        print(
            "| pipeline | task | save s (formats + reports) | auto runtime | exact | ONNX parity | "
            "p50 µs onnx / skops / joblib | batch rows/s onnx / skops / joblib |"
        )
        print("|---|---|---|---|---|---|---|---|")
        for r in rows:
            s = r["speeds"]

            def cell(k: str, i: int, s: dict[str, tuple[float, float]] = s) -> str:
                return f"{s[k][i]:,.0f}" if k in s else "-"

            print(
                f"| {r['id']} | {r['task']} | {r['save_s']:.2f} ({r['formats_s']:.2f} + "
                f"{r['reports_s']:.2f}) | {r['auto']} | {'yes' if r['exact'] else 'no'} | "
                f"{r['onnx_parity']} | "
                f"{cell('onnx', 0)} / {cell('skops', 0)} / {cell('joblib', 0)} | "
                f"{cell('onnx', 1)} / {cell('skops', 1)} / {cell('joblib', 1)} |"
            )
        onnx_auto = [r for r in rows if r["auto"] == "onnx"]
        demo = next((r for r in rows if r["id"] == "cancer-demo-forest"), None)
        print(f"\nserved by ONNX: {len(onnx_auto)} of {len(rows)}")
        if demo is not None and "onnx" in demo["speeds"]:
            base = demo["speeds"]["onnx"][0]
            slow = [
                f"{r['id']} {r['speeds']['onnx'][0] / base:.1f}x"
                for r in onnx_auto
                if r["speeds"]["onnx"][0] > 2 * base
            ]
            print(f"ONNX p50 over 2x the demo forest's ({base:.0f} µs): {slow or 'none'}")
        saves = [r["save_s"] for r in rows]
        print(f"\nmax save {max(saves):.2f} s; over 5 s: {sum(s > 5 for s in saves)}")


if __name__ == "__main__":
    main()
