"""Shared by the registry tests (SQLite and PostgreSQL): real bundles at several versions, the
core flow both databases must pass, and the worker the concurrency tests run in processes.

The bundles are copies of the session's ``cancer`` bundle with the manifest's version changed
(``bundle.json`` is not hashed, so the copy still verifies), benchmarked once for real so that
their checklist passes; one is left without a benchmark, so its gate fails for a true reason.
"""

from __future__ import annotations

import itertools
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from skbundle.registry import GateRecord, Registry
from skbundle.trust.signing import generate_keypair, sign
from tests.readiness_helpers import edit_manifest

if TYPE_CHECKING:  # the concurrency workers import this module: keep scikit-learn out
    from tests.conftest import Case

NAME = "breast-cancer"
GATE_REQUESTS = 50  # the load probe of the gate: enough to prove it serves, quick to run
NO_BENCH = "no benchmark: run 'skbundle bench'"
MEMORY_TITLE = "Memory requirements measured"
LATENCY_TITLE = "Prediction time measured and within budget (p99 <= 100 ms)"


@dataclass(frozen=True)
class Bundles:
    v1: Path  # 1.0.0, benchmarked: its gate passes
    v2: Path  # 1.1.0, benchmarked
    unbenched: Path  # 2.0.0, no benchmark: memory and latency are not measured
    signed: Path  # 1.2.0, benchmarked, signed with key A
    public_a: bytes
    public_b: bytes


def versioned(source: Path, target: Path, version: str) -> Path:
    shutil.copytree(source, target)
    edit_manifest(target, version=version)
    return target


_BUILT: dict[Path, Bundles] = {}


@pytest.fixture(scope="session")
def registry_bundles(cancer: Case, tmp_path_factory: pytest.TempPathFactory) -> Bundles:
    """Built once per session, even though both registry modules import this fixture."""
    root = tmp_path_factory.getbasetemp() / "registry-bundles"
    if root in _BUILT:
        return _BUILT[root]
    from skbundle import bench

    root.mkdir()
    benched = root / "benched"
    private_a, public_a = generate_keypair()
    _, public_b = generate_keypair()
    shutil.copytree(cancer.path, benched)
    measured = bench.run(benched, runtimes=["onnx"], n=20, batch_sizes=(1,), persistence=False)
    bench.store(benched, measured)
    signed = versioned(benched, root / "signed", "1.2.0")
    sign(signed, private_a)
    _BUILT[root] = Bundles(
        v1=versioned(benched, root / "v1", "1.0.0"),
        v2=versioned(benched, root / "v2", "1.1.0"),
        unbenched=versioned(cancer.path, root / "unbenched", "2.0.0"),
        signed=signed,
        public_a=public_a,
        public_b=public_b,
    )
    return _BUILT[root]


def refused_message(version: str, failures: list[tuple[str, str, str, str]]) -> str:
    listed = "; ".join(f"{k} ({t}: {s}: {e})" for k, t, s, e in failures)
    n = len(failures)
    return (
        f"Refusing to move {NAME}@production to {version}: its gate failed ({n} item"
        f"{'s' if n != 1 else ''} blocking: {listed}). Fix the items (run 'skbundle registry "
        f"pull {NAME}@{version} --out DIR' then 'skbundle check DIR' to see the evidence), or "
        "override with force=True and a reason (CLI: --force --reason TEXT); a forced move is "
        "recorded in the audit log."
    )


UNBENCHED_FAILURES = [
    ("memory", MEMORY_TITLE, "not measured", NO_BENCH),
    ("latency", LATENCY_TITLE, "not measured", NO_BENCH),
]


def core_flow(registry: Registry, bundles: Bundles, tmp: Path) -> None:
    """What every database must do the same way: push, re-push, gate, force, pull, rollback,
    delete, history."""
    from skbundle import load
    from skbundle.errors import (
        PromotionRefusedError,
        RegistryConflictError,
        RegistryLookupError,
    )
    from skbundle.lifecycle import promote

    first = registry.push(bundles.v1)
    assert first.ref == f"{NAME}@1.0.0"
    assert registry.push(bundles.v1) == first  # the same bytes again: a no-op
    registry.push(bundles.v2)
    registry.push(bundles.unbenched)
    assert [v.version for v in registry.list(NAME)] == ["1.0.0", "1.1.0", "2.0.0"]

    moved = promote(registry, NAME, "production", "1.0.0", requests=GATE_REQUESTS)
    assert (moved.from_version, moved.to_version, moved.forced) == (None, "1.0.0", False)
    assert moved.gate.passed and moved.gate.summary.startswith("pass (")
    promote(registry, NAME, "production", "1.1.0", requests=GATE_REQUESTS)

    with pytest.raises(PromotionRefusedError) as refused:
        promote(registry, NAME, "production", "2.0.0", requests=GATE_REQUESTS)
    assert str(refused.value) == refused_message("2.0.0", UNBENCHED_FAILURES)
    assert registry.aliases(NAME) == {"production": "1.1.0"}  # the refusal moved nothing

    forced = promote(
        registry, NAME, "production", "2.0.0", requests=GATE_REQUESTS, force=True,
        reason="incident 42: memory figures come tomorrow",
    )  # fmt: skip
    assert forced.forced and not forced.gate.passed
    assert [f.key for f in forced.gate.failures] == ["memory", "latency"]

    out = registry.pull(f"{NAME}@production", tmp / "pulled")
    assert out.version == "2.0.0"
    assert load(tmp / "pulled").manifest.version == "2.0.0"

    back = registry.rollback(NAME, "production")
    assert (back.action, back.from_version, back.to_version) == ("rollback", "2.0.0", "1.1.0")
    assert registry.show(f"{NAME}@production").version == "1.1.0"

    with pytest.raises(RegistryConflictError) as conflict:
        registry.delete(NAME, "1.1.0")
    assert str(conflict.value) == (
        f"Cannot delete {NAME}@1.1.0: the alias 'production' points at it. Move it to another "
        f"version first ('skbundle registry alias {NAME} production VERSION')."
    )
    registry.delete(NAME, "2.0.0")
    with pytest.raises(RegistryLookupError):
        registry.show(f"{NAME}@2.0.0")

    log = registry.history(NAME)
    assert [(e.action, e.from_version, e.to_version, e.forced) for e in log] == [
        ("move", None, "1.0.0", False),
        ("move", "1.0.0", "1.1.0", False),
        ("move", "1.1.0", "2.0.0", True),
        ("rollback", "2.0.0", "1.1.0", False),
    ]
    assert log[2].reason == "incident 42: memory figures come tomorrow"
    assert {e.actor for e in log} == {_user()}


def _user() -> str:
    import getpass

    return getpass.getuser()


def worker(location: str, blobs: str | None, dirs: list[str], index: int, moves: int) -> None:
    """One process of the concurrency tests: push every bundle (in its own order), then move
    ``@production`` ``moves`` times."""
    with Registry.open(location, blobs=blobs) as registry:
        order = dirs[index % len(dirs) :] + dirs[: index % len(dirs)]
        versions = [registry.push(d).version for d in order]
        for i in range(moves):
            registry.set_alias(
                NAME,
                "production",
                versions[i % len(versions)],
                gate=GateRecord(True, "concurrency test: no gate"),
                forced=False,
                reason=f"worker {index} move {i}",
            )


def run_workers(location: str, blobs: str | None, dirs: list[Path], n: int, moves: int) -> None:
    import multiprocessing

    # A fork server started once, with this module (and so skbundle.registry) loaded: each
    # worker is a fresh process, forked from one that never ran a test or a thread.
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload([__name__])
    processes = [
        context.Process(target=worker, args=(location, blobs, [str(d) for d in dirs], i, moves))
        for i in range(n)
    ]
    for p in processes:
        p.start()
    for p in processes:
        p.join(120)
    assert [p.exitcode for p in processes] == [0] * n


def check_after_workers(
    registry: Registry, bundles: list[Path], n: int, moves: int, tmp: Path
) -> None:
    """Nothing lost, nothing corrupt: every version once, every blob intact, one audit entry
    per move, each starting where the one before it ended."""
    versions = registry.list(NAME)
    assert len(versions) == len(bundles)
    for v in versions:
        registry.pull(v.ref, tmp / v.version)  # checks every blob's hash
    log = registry.history(NAME, "production")
    assert len(log) == n * moves
    assert log[0].from_version is None
    for before, after in itertools.pairwise(log):
        assert after.from_version == before.to_version
    assert registry.aliases(NAME) == {"production": log[-1].to_version}
    assert sorted(e.reason for e in log) == sorted(
        f"worker {i} move {m}" for i in range(n) for m in range(moves)
    )
