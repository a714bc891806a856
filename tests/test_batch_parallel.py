"""score_files and `skbundle predict` on files: globs, directories, parts, atomicity, --keep,
--jobs, and a pipeline whose memory is bounded by its depth, not by the input."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

import skbundle
from skbundle import batch
from skbundle.batch import score_files, score_frame
from skbundle.cli import app
from skbundle.errors import BatchInputError, BatchValidationError
from tests.conftest import Case

runner = CliRunner()


def flat(text: str) -> str:
    return " ".join(text.split())


@pytest.fixture(scope="module")
def bundle(cancer: Case) -> skbundle.Bundle:
    return skbundle.load(cancer.path)


def rows(cancer: Case, n: int, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    frame = cancer.X_test.sample(n, replace=True, random_state=seed).reset_index(drop=True)
    return (frame * (1 + rng.normal(0, 0.01, frame.shape))).assign(
        id=[f"r{seed}-{i}" for i in range(n)]
    )


@pytest.fixture
def folder(cancer: Case, tmp_path: Path) -> Path:
    """Three files of three kinds, 1 300 rows: a.parquet (2 row groups), b.csv, c.jsonl."""
    data = tmp_path / "in"
    data.mkdir()
    rows(cancer, 600, 1).to_parquet(data / "a.parquet", index=False, row_group_size=250)
    rows(cancer, 400, 2).to_csv(data / "b.csv", index=False)
    rows(cancer, 300, 3).to_json(data / "c.jsonl", orient="records", lines=True)
    (data / "_SUCCESS").write_bytes(b"")  # markers and hidden files are not input
    (data / ".a.parquet.crc").write_bytes(b"x")
    return data


def expected(bundle: skbundle.Bundle, cancer: Case) -> pd.DataFrame:
    whole = pd.concat([rows(cancer, 600, 1), rows(cancer, 400, 2)], ignore_index=True)
    whole = pd.concat([whole, pd.read_json(_jsonl(cancer), lines=True)], ignore_index=True)
    return score_frame(bundle, whole, keep=["id"])


def _jsonl(cancer: Case) -> object:
    import io

    return io.StringIO(rows(cancer, 300, 3).to_json(orient="records", lines=True))


def test_directory_and_glob_inputs_score_every_file_in_order(
    bundle: skbundle.Bundle, cancer: Case, folder: Path, tmp_path: Path
) -> None:
    want = expected(bundle, cancer)
    out = tmp_path / "out.parquet"
    summary = score_files(bundle, str(folder), out, keep=["id"], chunk_size=128, jobs=2)
    assert summary.rows == 1300 and summary.files == 3
    pd.testing.assert_frame_equal(pd.read_parquet(out), want, check_exact=True)
    globbed = tmp_path / "globbed.parquet"
    score_files(bundle, str(folder / "[ab].*"), globbed, keep=["id"], chunk_size=128)
    pd.testing.assert_frame_equal(pd.read_parquet(globbed), want.iloc[:1000], check_exact=True)


def test_directory_output_is_parquet_parts(
    bundle: skbundle.Bundle, cancer: Case, folder: Path, tmp_path: Path
) -> None:
    out = tmp_path / "scored"
    summary = score_files(bundle, str(folder), out, keep=["id"], chunk_size=100, part_rows=500)
    names = sorted(p.name for p in out.iterdir())
    assert names == ["_SUCCESS", "part-00000.parquet", "part-00001.parquet", "part-00002.parquet"]
    assert summary.parts == 3
    got = pd.read_parquet(out).reset_index(drop=True)  # pyarrow skips _SUCCESS
    pd.testing.assert_frame_equal(got, expected(bundle, cancer), check_exact=True)
    # An earlier output (it has _SUCCESS) is replaced; a directory of other files is not.
    score_files(bundle, str(folder / "a.parquet"), out, keep=["id"], chunk_size=100)
    assert len(pd.read_parquet(out)) == 600
    other = tmp_path / "mine"
    other.mkdir()
    (other / "notes.txt").write_text("keep me")
    with pytest.raises(skbundle.SkbundleError, match="will not be replaced"):
        score_files(bundle, str(folder), other)
    assert sorted(p.name for p in other.iterdir()) == ["notes.txt"]


@pytest.mark.parametrize("out_name", ["out.parquet", "out.csv", "parts"])
def test_a_bad_row_in_the_last_file_leaves_nothing(
    bundle: skbundle.Bundle, folder: Path, tmp_path: Path, out_name: str
) -> None:
    lines = (folder / "c.jsonl").read_text().splitlines()
    lines[-1] = lines[-1].replace('"mean area":', '"mean area":"twelve","was":')
    (folder / "c.jsonl").write_text("\n".join(lines) + "\n")
    target = tmp_path / "dest"
    target.mkdir()
    with pytest.raises(BatchValidationError) as caught:
        score_files(bundle, str(folder), target / out_name, keep=["id"], chunk_size=64, jobs=2)
    assert caught.value.source == str(folder / "c.jsonl")
    assert [p.record for p in caught.value.problems][:1] == [1299]
    assert list(target.iterdir()) == []  # no file, no part, no temporary sibling


def test_wrong_type_in_row_123457_of_the_second_file(cancer: Case, tmp_path: Path) -> None:
    data = tmp_path / "in"
    data.mkdir()
    pd.concat([cancer.X_test] * 878, ignore_index=True).iloc[:100_000].to_parquet(
        data / "a.parquet", index=False
    )
    second = cancer.X_test.sample(30_000, replace=True, random_state=0).astype(object)
    second.iloc[23_457, 3] = "twelve"
    second.to_csv(data / "b.csv", index=False)
    target = tmp_path / "out.parquet"
    result = runner.invoke(
        app,
        ["predict", str(cancer.path), str(data), "-o", str(target), "--chunk-size", "50000"],
    )
    assert result.exit_code == 1
    assert f"Input from {data / 'b.csv'} does not fit the bundle 'breast-cancer'" in flat(
        result.stderr
    )
    assert "record 123457, field 'mean area': got a string 'twelve'; expected a number" in flat(
        result.stderr
    )
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in"]


def test_cli_keep_columns_and_jobs_give_the_same_output(
    cancer: Case, folder: Path, tmp_path: Path
) -> None:
    outputs = []
    for jobs in ("1", "2"):
        target = tmp_path / f"jobs{jobs}.csv"
        result = runner.invoke(
            app,
            [
                "predict",
                str(cancer.path),
                str(folder),
                "-o",
                str(target),
                "--jobs",
                jobs,
                "--keep",
                "id",
                "--columns",
                "prediction,probabilities",
                "--chunk-size",
                "97",
            ],
        )
        assert result.exit_code == 0, result.stderr
        assert f"wrote 1300 predictions to {target}" in flat(result.stderr)
        outputs.append(target.read_bytes())
    assert outputs[0] == outputs[1]
    got = pd.read_csv(tmp_path / "jobs1.csv")
    assert list(got.columns) == ["row", "id", "prediction", "p_malignant", "p_benign"]
    assert got["id"].iloc[[0, 600, 1000]].tolist() == ["r1-0", "r2-0", "r3-0"]


def test_cli_refuses_a_bad_columns_name(cancer: Case, folder: Path, tmp_path: Path) -> None:
    result = runner.invoke(
        app,
        [
            "predict",
            str(cancer.path),
            str(folder),
            "-o",
            str(tmp_path / "o.csv"),
            "--columns",
            "prediction,score",
        ],
    )
    assert result.exit_code == 1
    assert "Cannot use output column 'score': there is no such output column." in flat(
        result.stderr
    )
    assert not (tmp_path / "o.csv").exists()


def test_json_output_keeps_the_result_objects(
    bundle: skbundle.Bundle, cancer: Case, tmp_path: Path
) -> None:
    source = tmp_path / "in.parquet"
    rows(cancer, 30, 4).to_parquet(source, index=False)
    out = tmp_path / "out.json"
    score_files(bundle, str(source), out, keep=["id"], chunk_size=7)
    import orjson

    got = orjson.loads(out.read_bytes())
    frame = rows(cancer, 30, 4)
    want = bundle.predict(frame.drop(columns=["id"]).to_dict(orient="records"))
    assert got == [{"id": f"r4-{i}", **w} for i, w in enumerate(want)]


def test_empty_directory_and_nested_directory_are_refused(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    with pytest.raises(BatchInputError) as caught:
        batch.open_inputs(str(tmp_path / "empty"))
    assert str(caught.value).startswith(
        f"Cannot read input {tmp_path / 'empty'}: the directory holds no input file."
    )
    (tmp_path / "empty" / "year=2024").mkdir()
    with pytest.raises(BatchInputError, match="a directory inside the input"):
        batch.open_inputs(str(tmp_path / "empty"))


def test_the_pipeline_holds_at_most_depth_chunks(
    bundle: skbundle.Bundle, cancer: Case, tmp_path: Path
) -> None:
    """The writer stalls on its first chunk; an unbounded reader would read all 60 chunks
    meanwhile. The count of chunks alive never passes the depth, however long it stalls."""
    source = tmp_path / "in.parquet"
    rows(cancer, 600, 5).to_parquet(source, index=False)
    stalled = []

    def progress(done: int) -> None:
        if not stalled:
            stalled.append(done)
            time.sleep(0.5)

    summary = score_files(
        bundle,
        str(source),
        tmp_path / "o.parquet",
        chunk_size=10,
        jobs=2,
        depth=3,
        keep=["id"],
        on_progress=progress,
    )
    assert summary.rows == 600
    assert 1 <= summary.peak_in_flight <= 3


def test_the_pipeline_raises_the_first_failure_in_input_order() -> None:
    pipeline = batch.Pipeline(jobs=3, depth=4)
    written: list[int] = []

    def score(i: int) -> int:
        if i in (7, 3):
            time.sleep(0.05 if i == 3 else 0)  # 7 fails first in time, 3 first in order
            raise ValueError(f"chunk {i}")
        return i

    with pytest.raises(ValueError, match="chunk 3"):
        pipeline.run(range(20), score, written.append)
    assert written == [0, 1, 2]


@pytest.mark.parametrize(
    "index",
    ["range-index-as-metadata", "named-index-as-a-column"],
)
def test_parquet_written_by_pandas_defaults_scores_with_its_index_ignored(
    bundle: skbundle.Bundle, cancer: Case, tmp_path: Path, index: str
) -> None:
    """``DataFrame.to_parquet()`` with its defaults stores a RangeIndex as metadata (a dict,
    not a column name) and any other index as a column: neither is a feature."""
    frame = rows(cancer, 300, 4)
    named = index == "named-index-as-a-column"
    frame = frame.set_index("id") if named else frame.drop("id", axis=1)
    frame.to_parquet(tmp_path / "in.parquet")  # index=None: pandas' own default
    out = tmp_path / "out.parquet"
    summary = score_files(bundle, str(tmp_path / "in.parquet"), out, chunk_size=128)
    assert summary.rows == 300
    want = score_frame(bundle, rows(cancer, 300, 4).drop(columns="id"))
    pd.testing.assert_frame_equal(pd.read_parquet(out), want, check_exact=True)
