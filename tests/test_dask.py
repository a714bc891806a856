"""skbundle.dask on a real LocalCluster (2 worker processes, 1 thread each, one per module):
identical to Bundle.predict row for row, global row numbers in errors, a bundle tampered on
the way refused by the worker, a worker killed mid-job survived, nothing half-written."""

from __future__ import annotations

import dataclasses
import io
import os
import signal
import tarfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

import skbundle
from skbundle import remote
from skbundle.batch import flatten
from skbundle.errors import (
    BatchValidationError,
    BundleFileError,
    BundleIntegrityError,
    ClusterJobError,
)

from .conftest import Case
from .tampering import rehash
from .zoo import case
from .zoo_bundles import CATEGORICAL, zoo_bundle

dd = pytest.importorskip("dask.dataframe")
distributed = pytest.importorskip("distributed")
skdask = pytest.importorskip("skbundle.dask")


@pytest.fixture(scope="module")
def client() -> Iterator[Any]:
    cluster = distributed.LocalCluster(
        n_workers=2,
        threads_per_worker=1,
        processes=True,
        scheduler_port=0,
        dashboard_address=None,
    )
    with distributed.Client(cluster) as c:
        yield c
    cluster.close()


def expected(bundle: skbundle.Bundle, rows: pd.DataFrame) -> pd.DataFrame:
    """What one process gives: Bundle.predict on every row, flattened as batch writes it."""
    return pd.DataFrame([flatten(r, i) for i, r in enumerate(bundle.predict(rows))])


def same(got: pd.DataFrame, want: pd.DataFrame) -> None:
    pd.testing.assert_frame_equal(
        got.reset_index(drop=True), want, check_dtype=False, check_exact=True
    )


@pytest.fixture(scope="module")
def cancer_rows(cancer: Case) -> pd.DataFrame:
    rows = pd.concat([cancer.X_train, cancer.X_test] * 4, ignore_index=True)  # 2276 rows
    return rows


def write_parquet(rows: pd.DataFrame, path: Path, group: int = 100) -> Path:
    rows.to_parquet(path, row_group_size=group, index=False)
    return path


def leftovers(parent: Path) -> list[str]:
    return sorted(p.name for p in parent.iterdir() if "skbundle-tmp" in p.name)


def test_score_files_is_bundle_predict_row_for_row(
    client: Any, cancer: Case, cancer_rows: pd.DataFrame, tmp_path: Path
) -> None:
    source = write_parquet(cancer_rows, tmp_path / "rows.parquet")
    seen: list[skdask.JobProgress] = []
    summary = skdask.score_files(
        cancer.path,
        [source],
        tmp_path / "out",
        client=client,
        part_rows=300,
        on_progress=seen.append,
    )
    bundle = skbundle.load(cancer.path)
    want = expected(bundle, cancer_rows)
    parts = sorted(p.name for p in (tmp_path / "out").iterdir())
    assert parts == [f"part-{i:05d}.parquet" for i in range(8)]  # 23 groups of 100 -> 8 parts
    same(pd.read_parquet(tmp_path / "out"), want)
    assert summary.rows == len(cancer_rows)
    assert summary.by_class == want["prediction"].value_counts().to_dict()
    assert [p.done for p in seen][-1] == len(cancer_rows)
    assert {p.total for p in seen} == {len(cancer_rows)}
    assert leftovers(tmp_path) == []
    # Each worker verified and loaded the bundle once, however many parts it scored.
    assert set(client.run(remote.cached_count).values()) <= {1}


def test_categorical_zoo_bundle_over_two_files_and_bytes_shipping(
    client: Any, tmp_path_factory: pytest.TempPathFactory, tmp_path: Path
) -> None:
    path = zoo_bundle(tmp_path_factory, CATEGORICAL)
    fitted = case(CATEGORICAL).build()
    rows = pd.concat([fitted.X_train, fitted.X_test], ignore_index=True)
    half = len(rows) // 2
    first = write_parquet(rows.iloc[:half], tmp_path / "a.parquet", group=40)
    second = write_parquet(rows.iloc[half:], tmp_path / "b.parquet", group=40)
    skdask.score_files(
        path, [first, second], tmp_path / "out", client=client, ship="bytes", part_rows=50
    )
    same(pd.read_parquet(tmp_path / "out"), expected(skbundle.load(path), rows))


def test_lazy_predict_keeps_ids_and_numbers_rows_globally(
    client: Any, cancer: Case, cancer_rows: pd.DataFrame
) -> None:
    rows = cancer_rows.assign(patient=[f"p{i}" for i in range(len(cancer_rows))])
    scored = skdask.predict(cancer.path, dd.from_pandas(rows, npartitions=5), keep=["patient"])
    assert list(scored.columns[:3]) == ["row", "patient", "prediction"]
    want = expected(skbundle.load(cancer.path), cancer_rows)
    want.insert(1, "patient", rows["patient"])
    same(scored.compute(), want)


BAD_ROW = 1234  # in the 13th row group of 100, so in the 5th part of 300 rows


def test_a_bad_row_in_one_part_of_many_names_file_global_row_and_field(
    client: Any, cancer: Case, cancer_rows: pd.DataFrame, tmp_path: Path
) -> None:
    rows = cancer_rows.copy()
    rows.loc[BAD_ROW, "mean radius"] = np.nan
    source = write_parquet(rows, tmp_path / "rows.parquet")
    with pytest.raises(BatchValidationError) as caught:
        skdask.score_files(cancer.path, [source], tmp_path / "out", client=client, part_rows=300)
    assert str(caught.value) == (
        f"Input from {source} does not fit the bundle 'breast-cancer' (1 problem):\n"
        f"  - record {BAD_ROW}, field 'mean radius': got a missing value (null or NaN); "
        "expected a number (this feature had no missing values in training, so none are "
        "accepted)\n"
        "Send every feature listed by 'skbundle inspect' (or GET /metadata), each as the "
        "schema says: a number, or one of its categories."
    )
    assert caught.value.source == str(source)
    assert [(p.record, p.field) for p in caught.value.problems] == [(BAD_ROW, "mean radius")]
    assert not (tmp_path / "out").exists()
    assert leftovers(tmp_path) == []


def test_a_bad_row_in_a_dask_partition_names_the_partition(
    client: Any, cancer: Case, cancer_rows: pd.DataFrame
) -> None:
    rows = cancer_rows.copy()
    rows.loc[BAD_ROW, "mean texture"] = np.inf
    scored = skdask.predict(cancer.path, dd.from_pandas(rows, npartitions=4))  # 569 each
    with pytest.raises(BatchValidationError) as caught:
        scored.compute()
    assert caught.value.source == "partition 2"
    assert [(p.record, p.field) for p in caught.value.problems] == [(BAD_ROW, "mean texture")]
    assert str(caught.value).startswith(
        "Input from partition 2 does not fit the bundle 'breast-cancer' (1 problem):\n"
        f"  - record {BAD_ROW}, field 'mean texture': "
    )


def forged_archive(bundle: Path, tmp_path: Path, how: str) -> bytes:
    """The bundle's archive as a man in the middle would change it."""
    if how == "symlink":
        buffer = io.BytesIO()
        with tarfile.open(fileobj=buffer, mode="w") as tar:
            link = tarfile.TarInfo("bundle.json")
            link.type, link.linkname = tarfile.SYMTYPE, "/etc/passwd"
            tar.addfile(link)
        return buffer.getvalue()
    copy = tmp_path / "forged"
    import shutil

    shutil.copytree(bundle, copy)
    data = bytearray((copy / "model.onnx").read_bytes())
    data[len(data) // 2] ^= 0xFF
    (copy / "model.onnx").write_bytes(bytes(data))
    if how == "rehashed":
        rehash(copy, "model.onnx")
    # pack() verifies nothing: it reads what is there, as a forger's own packer would.
    return remote.pack(copy)


TAMPERED = [
    pytest.param(
        "flipped",
        BundleIntegrityError,
        "Bundle 'breast-cancer' as the client sent it failed verification (1 problem): "
        "model.onnx has sha256 ",
        id="a-byte-of-the-model-flipped",
    ),
    pytest.param(
        "rehashed",
        BundleIntegrityError,
        "Bundle 'breast-cancer' as the client sent it (its bundle.json is not the one the "
        "client verified) failed verification (1 problem): bundle.json has sha256 ",
        id="model-changed-and-manifest-rehashed",
    ),
    pytest.param(
        "symlink",
        BundleFileError,
        "Cannot read bundle.json in the bundle 'breast-cancer' as the client sent it: it is a "
        "link or a special file, not a regular file (a bundle holds regular files only). "
        "Nothing was read from it.",
        id="a-symbolic-link-in-the-archive",
    ),
]


@pytest.mark.parametrize(("how", "error", "fragment"), TAMPERED)
def test_bundle_bytes_tampered_on_the_wire_are_refused_on_the_worker(
    client: Any, cancer: Case, tmp_path: Path, how: str, error: type[Exception], fragment: str
) -> None:
    ref, _ = remote.make_ref(cancer.path, ship="bytes")
    forged = dataclasses.replace(ref, archive=forged_archive(cancer.path, tmp_path, how))
    client.run(remote.clear_cache)
    worker = sorted(client.scheduler_info()["workers"])[0]
    future = client.submit(remote.load_ref, forged, workers=[worker], pure=False)
    with pytest.raises(error) as caught:
        future.result()
    assert str(caught.value).startswith(fragment)
    assert client.run(remote.cached_count, workers=[worker]) == {worker: 0}


def test_an_existing_output_is_refused_before_anything_runs(
    client: Any, cancer: Case, cancer_rows: pd.DataFrame, tmp_path: Path
) -> None:
    (tmp_path / "out").mkdir()
    with pytest.raises(ClusterJobError) as caught:
        skdask.score_files(
            cancer.path, [tmp_path / "none.parquet"], tmp_path / "out", client=client
        )
    assert str(caught.value) == (
        f"{tmp_path / 'out'}: the output directory exists. Remove it or pass overwrite=True."
    )


def test_cli_engine_dask_joins_a_running_scheduler(
    client: Any, cancer: Case, cancer_rows: pd.DataFrame, tmp_path: Path
) -> None:
    from typer.testing import CliRunner

    from skbundle.cli import app

    source = write_parquet(cancer_rows, tmp_path / "rows.parquet")
    result = CliRunner().invoke(
        app,
        [
            "predict",
            str(cancer.path),
            str(source),
            "--engine",
            "dask",
            "--scheduler",
            client.scheduler.address,
            "-o",
            str(tmp_path / "out"),
        ],
    )
    assert result.exit_code == 0, result.output
    same(pd.read_parquet(tmp_path / "out"), expected(skbundle.load(cancer.path), cancer_rows))


def test_a_worker_killed_mid_job_is_survived_and_nothing_half_written_remains(
    client: Any, cancer: Case, cancer_rows: pd.DataFrame, tmp_path: Path
) -> None:
    rows = cancer_rows  # 2276 rows: 23 groups of 100, one part each
    source = write_parquet(rows, tmp_path / "rows.parquet")
    pids = client.run(os.getpid)
    victim = sorted(pids.values())[0]
    after_kill: list[int] = []

    def kill_once(progress: Any) -> None:
        if not after_kill:
            os.kill(victim, signal.SIGKILL)
        after_kill.append(progress.done)

    skdask.score_files(
        cancer.path,
        [source],
        tmp_path / "out",
        client=client,
        part_rows=100,
        on_progress=kill_once,
    )
    assert len(after_kill) == 23  # the job went on after the kill, to the last part
    parts = sorted(p.name for p in (tmp_path / "out").iterdir())
    assert parts == [f"part-{i:05d}.parquet" for i in range(23)]  # no stray temporary file
    same(pd.read_parquet(tmp_path / "out"), expected(skbundle.load(cancer.path), rows))
    assert leftovers(tmp_path) == []
    assert victim not in client.run(os.getpid).values()
