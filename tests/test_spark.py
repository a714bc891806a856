"""skbundle.spark on a real local[2] Spark session (one per module): identical to
Bundle.predict and to the Dask engine row for row, global row numbers in errors, the
broadcast bundle verified on the executor. Skipped, with the reason, where Java is missing."""

from __future__ import annotations

import dataclasses
import os
import shutil
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

import skbundle
from skbundle import remote
from skbundle.batch import flatten

from .conftest import Case
from .zoo import case
from .zoo_bundles import CATEGORICAL, zoo_bundle

if shutil.which("java") is None and not os.environ.get("JAVA_HOME"):
    print("test_spark: skipped, no Java runtime (java not on PATH, JAVA_HOME unset)")
    pytest.skip("Spark needs a Java runtime: none found", allow_module_level=True)

pyspark_sql = pytest.importorskip("pyspark.sql")
# pyspark 4.3 warns that it does not fully support pandas 3 whenever it converts; the tests
# below check every value that crosses, so the warning is noise here.
pytestmark = pytest.mark.filterwarnings(
    "ignore:PySpark does not yet fully support pandas:FutureWarning"
)
skspark = pytest.importorskip("skbundle.spark")


@pytest.fixture(scope="module")
def spark() -> Iterator[Any]:
    os.environ["PYSPARK_PYTHON"] = sys.executable
    os.environ["PYSPARK_DRIVER_PYTHON"] = sys.executable
    session = (
        pyspark_sql.SparkSession.builder.master("local[2]")
        .appName("skbundle-tests")
        .config("spark.ui.enabled", "false")
        .config("spark.driver.bindAddress", "127.0.0.1")
        .config("spark.driver.host", "127.0.0.1")
        .config("spark.sql.shuffle.partitions", "2")
        .config("spark.sql.execution.arrow.pyspark.enabled", "true")
        .config("spark.driver.memory", "1g")
        .getOrCreate()
    )
    session.sparkContext.setLogLevel("ERROR")
    yield session
    session.stop()


def expected(bundle: skbundle.Bundle, rows: pd.DataFrame) -> pd.DataFrame:
    return pd.DataFrame([flatten(r, i) for i, r in enumerate(bundle.predict(rows))])


def collected(df: Any) -> pd.DataFrame:
    """The rows on the driver. Not toPandas(): pyspark 4.3's Arrow path to pandas 3 fails on
    the driver ("The copy keyword is deprecated"); mapInPandas on the executors is fine."""
    return pd.DataFrame([row.asDict() for row in df.collect()], columns=df.columns)


def same(got: pd.DataFrame, want: pd.DataFrame) -> None:
    got = got.sort_values("row").reset_index(drop=True)
    pd.testing.assert_frame_equal(got, want, check_dtype=False, check_exact=True)


@pytest.fixture(scope="module")
def cancer_rows(cancer: Case) -> pd.DataFrame:
    return pd.concat([cancer.X_train, cancer.X_test] * 2, ignore_index=True)  # 1138 rows


def test_cancer_on_spark_is_bundle_predict_and_the_dask_engine(
    spark: Any, cancer: Case, cancer_rows: pd.DataFrame
) -> None:
    import dask.dataframe as dd

    from skbundle import dask as skdask

    df = spark.createDataFrame(cancer_rows)  # partitions keep the rows' order
    on_spark = collected(skspark.predict(df, cancer.path))
    on_dask = skdask.predict(cancer.path, dd.from_pandas(cancer_rows, npartitions=3)).compute(
        scheduler="sync"
    )
    want = expected(skbundle.load(cancer.path), cancer_rows)
    same(on_spark, want)
    same(on_dask, want)
    same(on_spark, on_dask.reset_index(drop=True))


def test_categorical_zoo_bundle_with_an_id_column(
    spark: Any, tmp_path_factory: pytest.TempPathFactory
) -> None:
    path = zoo_bundle(tmp_path_factory, CATEGORICAL)
    fitted = case(CATEGORICAL).build()
    rows = pd.concat([fitted.X_train, fitted.X_test], ignore_index=True)
    with_id = rows.assign(penguin=np.arange(len(rows), dtype="int64"))
    df = spark.createDataFrame(with_id.astype(object).where(with_id.notna(), None))
    got = collected(skspark.predict(df, path, keep=["penguin"]))
    want = expected(skbundle.load(path), rows)
    want.insert(1, "penguin", np.arange(len(rows)))
    same(got, want)


def test_a_bad_row_in_one_partition_names_partition_global_row_and_field(
    spark: Any, cancer: Case, cancer_rows: pd.DataFrame
) -> None:
    rows = cancer_rows.copy()
    rows.loc[700, "mean radius"] = np.nan
    df = spark.createDataFrame(rows)
    assert df.rdd.getNumPartitions() == 2  # local[2]: rows 569.. are in partition 1
    with pytest.raises(Exception) as caught:
        skspark.predict(df, cancer.path).collect()
    assert type(caught.value).__name__ == "PythonException"
    assert (
        "skbundle.errors.BatchValidationError: Input from partition 1 does not fit the bundle "
        "'breast-cancer' (1 problem):\n"
        "  - record 700, field 'mean radius': got a missing value (null or NaN); expected a "
        "number (this feature had no missing values in training, so none are accepted)\n"
    ) in str(caught.value)


def test_a_broadcast_bundle_tampered_is_refused_on_the_executor(
    spark: Any, cancer: Case, tmp_path: Path
) -> None:
    from .test_dask import forged_archive

    ref, _ = remote.make_ref(cancer.path, ship="bytes")
    forged = dataclasses.replace(ref, archive=forged_archive(cancer.path, tmp_path, "flipped"))
    shipped = spark.sparkContext.broadcast(forged)

    def load_on_executor(_: object) -> str:
        return repr(remote.load_ref(shipped.value))

    with pytest.raises(Exception) as caught:
        spark.sparkContext.parallelize([0], 1).map(load_on_executor).collect()
    assert (
        "skbundle.errors.BundleIntegrityError: Bundle 'breast-cancer' as the client sent it "
        "failed verification (1 problem): model.onnx has sha256 "
    ) in str(caught.value)
