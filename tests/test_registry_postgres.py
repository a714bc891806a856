"""The model registry on a real PostgreSQL server (tests/postgres.py): the same core flow as
on SQLite, and writers in parallel processes."""

from __future__ import annotations

from pathlib import Path

from skbundle.registry import Registry
from tests.postgres import postgres_server, postgres_url
from tests.registry_fixtures import (
    NAME,
    Bundles,
    check_after_workers,
    core_flow,
    registry_bundles,
    run_workers,
)

__all__ = ["postgres_server", "postgres_url", "registry_bundles"]  # fixtures pytest finds here


def test_core_flow_on_postgres(
    postgres_url: str, registry_bundles: Bundles, tmp_path: Path
) -> None:
    with Registry.open(postgres_url, blobs=tmp_path / "blobs") as registry:
        assert registry.location == postgres_url
        core_flow(registry, registry_bundles, tmp_path)


def test_blobs_given_in_the_url(
    postgres_url: str, registry_bundles: Bundles, tmp_path: Path
) -> None:
    with Registry.open(f"{postgres_url}?blobs={tmp_path / 'blobs'}") as registry:
        registry.push(registry_bundles.v1)
    assert len(list((tmp_path / "blobs").rglob("*"))) > 10
    with Registry.open(postgres_url, blobs=tmp_path / "blobs") as again:  # already at HEAD
        assert [v.ref for v in again.list()] == [f"{NAME}@1.0.0"]


def test_parallel_processes_on_postgres(
    postgres_url: str, registry_bundles: Bundles, tmp_path: Path
) -> None:
    dirs = [registry_bundles.v1, registry_bundles.v2, registry_bundles.signed]
    blobs = str(tmp_path / "blobs")
    run_workers(postgres_url, blobs, dirs, n=4, moves=5)  # they also race to create the schema
    with Registry.open(postgres_url, blobs=blobs) as registry:
        check_after_workers(registry, dirs, 4, 5, tmp_path)
