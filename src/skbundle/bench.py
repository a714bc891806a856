"""``skbundle bench``: measure what deploying a bundle costs, per runtime.

For each runtime the bundle holds: load time (verify + construct, in a fresh process, so it
includes the imports the model needs) and the resident memory that loading adds; single-row
latency percentiles over N calls of ``Bundle.predict`` (the path a server request takes);
batch latency and rows/s at several batch sizes; and each artifact's size. The result goes
into the manifest's ``benchmarks`` section (see :func:`store`), where the checklist and the
report read it.
"""

from __future__ import annotations

import json
import os
import platform
import subprocess
import sys
import time
import warnings
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np

from skbundle.build.persistence import compare
from skbundle.bundle import load
from skbundle.core.integrity import read_verified, verify
from skbundle.core.manifest import Manifest, read_manifest
from skbundle.core.runtime import Signature
from skbundle.core.schema import Validator
from skbundle.errors import BenchmarkError, RuntimeUnavailableError, UntrustedArtifactError
from skbundle.formats import FORMATS
from skbundle.readiness.refresh import refresh

BATCH_SIZES = (1, 10, 50, 100, 1000)
DEFAULT_N = 1000
WARMUP = 10

# Runs in a fresh interpreter: what loading one runtime costs, from a cold start.
_LOAD_PROBE = """
import json, sys, time, warnings

def rss_kb():
    try:
        with open("/proc/self/status") as fh:
            for line in fh:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except OSError:
        return None
    return None

import skbundle

path, runtime, trust = sys.argv[1], sys.argv[2], sys.argv[3] == "1"
trusted_types = json.loads(sys.argv[4])
before = rss_kb()
start = time.perf_counter()
with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    skbundle.load(path, runtime=runtime, trust_pickle=trust, trusted_types=trusted_types)
load_ms = (time.perf_counter() - start) * 1000.0
after = rss_kb()
print(json.dumps({"load_ms": load_ms, "before_kb": before, "after_kb": after}))
"""


@dataclass(frozen=True)
class RuntimeBench:
    """The measurements of one runtime."""

    load_ms: float
    rss_added_mb: float | None
    single: dict[str, float]
    batches: list[dict[str, float]]
    artifact: str
    artifact_bytes: int


@dataclass(frozen=True)
class BenchResult:
    """A whole benchmark run, as stored in the manifest."""

    measured_at: str
    n: int
    batch_sizes: list[int]
    machine: dict[str, Any]
    runtimes: dict[str, RuntimeBench]
    skipped: dict[str, str] = field(default_factory=dict)
    artifacts: dict[str, int] = field(default_factory=dict)
    persistence: list[dict[str, Any]] | None = None

    def to_dict(self) -> dict[str, Any]:
        """The manifest's ``benchmarks`` section (the persistence rows live in readiness.json)."""
        data = asdict(self)
        data.pop("persistence")
        return data


def synthetic_records(manifest: Manifest, n: int, *, seed: int = 0) -> list[dict[str, Any]]:
    """``n`` records drawn uniformly within each feature's training range, or among its
    categories (seeded)."""
    rng = np.random.default_rng(seed)
    columns: dict[str, Any] = {}
    for f in manifest.features:
        if f.categories:
            picks = rng.integers(0, len(f.categories), size=n).tolist()
            columns[f.name] = [f.categories[k] for k in picks]
        elif f.min is not None and f.max is not None:
            columns[f.name] = rng.uniform(f.min, f.max, size=n)
        else:
            columns[f.name] = np.full(n, f.mean if f.mean is not None else 0.0)
    return [{name: _plain(values[i]) for name, values in columns.items()} for i in range(n)]


def _plain(value: Any) -> Any:
    return float(value) if isinstance(value, (float, np.floating)) else value


def _percentiles(ms: np.ndarray) -> dict[str, float]:
    return {
        "n": int(ms.size),
        "p50_ms": float(np.percentile(ms, 50)),
        "p90_ms": float(np.percentile(ms, 90)),
        "p99_ms": float(np.percentile(ms, 99)),
        "max_ms": float(ms.max()),
        "mean_ms": float(ms.mean()),
    }


def _cold_load(
    root: Path, runtime: str, trust_pickle: bool, trusted_types: Sequence[str]
) -> tuple[float, float | None]:
    proc = subprocess.run(
        [
            sys.executable,
            "-c",
            _LOAD_PROBE,
            str(root),
            runtime,
            "1" if trust_pickle else "0",
            json.dumps(list(trusted_types)),
        ],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    if proc.returncode != 0:
        last = proc.stderr.strip().splitlines()[-1:] or ["(no output)"]
        raise BenchmarkError(
            str(root),
            f"loading runtime {runtime!r} in a fresh process failed: {last[0]}",
            "Run 'skbundle verify' and load the bundle in Python to see the full error.",
        )
    data = json.loads(proc.stdout.strip().splitlines()[-1])
    rss = None
    if data["before_kb"] is not None and data["after_kb"] is not None:
        rss = (data["after_kb"] - data["before_kb"]) / 1024.0
    return float(data["load_ms"]), rss


def _single(bundle: Any, records: list[dict[str, float]]) -> dict[str, float]:
    for record in records[:WARMUP]:
        bundle.predict(record)
    timings = np.empty(len(records), dtype=np.float64)
    clock = time.perf_counter_ns
    for i, record in enumerate(records):
        start = clock()
        bundle.predict(record)
        timings[i] = clock() - start
    return _percentiles(timings / 1e6)


def _batches(
    bundle: Any, records: list[dict[str, float]], sizes: Sequence[int], n: int
) -> list[dict[str, float]]:
    out = []
    for size in sizes:
        batch = [records[i % len(records)] for i in range(size)]
        repeats = max(2, min(n // 10, 5000 // size))
        bundle.predict(batch)
        timings = []
        for _ in range(repeats):
            start = time.perf_counter()
            bundle.predict(batch)
            timings.append(time.perf_counter() - start)
        median = float(np.median(timings))
        out.append(
            {
                "size": size,
                "repeats": repeats,
                "latency_ms": median * 1000.0,
                "rows_per_s": size / median if median > 0 else float("inf"),
            }
        )
    return out


def run(
    path: str | os.PathLike[str],
    *,
    runtimes: Sequence[str] | None = None,
    n: int = DEFAULT_N,
    batch_sizes: Sequence[int] = BATCH_SIZES,
    trust_pickle: bool = False,
    trusted_types: Sequence[str] = (),
    persistence: bool = True,
    seed: int = 0,
) -> BenchResult:
    """Benchmark every runtime of a bundle (or those named in ``runtimes``).

    Parameters
    ----------
    path
        The bundle directory.
    runtimes
        Format names to measure; default: every model format the manifest lists.
    n
        Single-row calls timed per runtime (after a warm-up of ten).
    batch_sizes
        Batch sizes to time; rows/s is the batch size over the median batch latency.
    trust_pickle
        Allow loading the joblib runtime (a pickle). Without it that runtime is skipped, and
        the reason is recorded.
    trusted_types
        Types the caller trusts beyond skbundle's allowlist (see :func:`skbundle.load`); a
        runtime that needs others is skipped, with the reason recorded.
    persistence
        Also compare ways of saving the pipeline (formats, compression levels); needs the
        fitted pipeline, so only with ``trust_pickle``.
    seed
        Seed of the synthetic records (uniform within each feature's training range).

    Returns
    -------
    BenchResult

    Raises
    ------
    BundleIntegrityError
        A file of the bundle does not match the manifest: nothing is measured.
    BenchmarkError
        No requested runtime could be measured.
    RuntimeUnavailableError
        A requested runtime is not in the bundle.
    """
    root = Path(path)
    manifest = read_manifest(root)
    verify(root, manifest).raise_for_problems()
    models = {a.format: a for a in manifest.artifacts if a.role == "model" and a.format in FORMATS}
    wanted = list(runtimes) if runtimes else list(models)
    unknown = [r for r in wanted if r not in models]
    if unknown:
        raise RuntimeUnavailableError(unknown[0], list(models))
    records = synthetic_records(manifest, max(n, WARMUP), seed=seed)
    results: dict[str, RuntimeBench] = {}
    skipped: dict[str, str] = {}
    for name in wanted:
        if FORMATS[name].needs_trust and not trust_pickle:
            skipped[name] = "a pickle: loading it needs --trust-pickle (trust_pickle=True)"
            continue
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                bundle = load(
                    root, runtime=name, trust_pickle=trust_pickle, trusted_types=trusted_types
                )
        except UntrustedArtifactError as exc:
            skipped[name] = exc.reason
            continue
        load_ms, rss = _cold_load(root, name, trust_pickle, trusted_types)
        results[name] = RuntimeBench(
            load_ms=load_ms,
            rss_added_mb=rss,
            single=_single(bundle, records[:n]),
            batches=_batches(bundle, records, batch_sizes, n),
            artifact=models[name].path,
            artifact_bytes=models[name].bytes,
        )
    if not results:
        raise BenchmarkError(
            str(root),
            f"no runtime could be measured ({'; '.join(f'{k}: {v}' for k, v in skipped.items())})",
            "Pass --trust-pickle for a bundle you built or whose source you verified.",
        )
    rows = _persistence(root, manifest) if persistence and trust_pickle else None
    return BenchResult(
        measured_at=datetime.now(timezone.utc).replace(microsecond=0).isoformat(),
        n=n,
        batch_sizes=list(batch_sizes),
        machine={
            "python": platform.python_version(),
            "platform": f"{sys.platform}-{platform.machine()}",
            "cpus": os.cpu_count(),
        },
        runtimes=results,
        skipped=skipped,
        artifacts={a.path: a.bytes for a in manifest.artifacts},
        persistence=rows,
    )


def _persistence(root: Path, manifest: Manifest) -> list[dict[str, Any]] | None:
    """The persistence comparison, run on the bundle's own pipeline (from the trusted pickle)."""
    artifact = next((a for a in manifest.artifacts if a.format == "joblib"), None)
    if artifact is None:
        return None
    signature = Signature.of(manifest)
    predictor = FORMATS["joblib"].load(
        read_verified(root, artifact), source=artifact.path, signature=signature
    )
    pipeline = getattr(predictor, "estimator", None)
    if pipeline is None:
        return None
    validator = Validator(manifest.features, bundle=manifest.name)
    sample = validator.validate(synthetic_records(manifest, 50)).X
    rows = compare(pipeline, repeat=3, sample=sample, signature=signature)
    return [asdict(row) for row in rows]


def store(path: str | os.PathLike[str], result: BenchResult) -> Any:
    """Write ``result`` into the bundle's manifest and re-render the files that show it.

    Returns the :class:`skbundle.core.update.UpdateResult` (it says whether the bundle's signature
    must be renewed).
    """
    return refresh(path, benchmarks=result.to_dict(), persistence=result.persistence)
