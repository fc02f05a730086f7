"""Reads every table of a published run by its directory, the way BI and
data-lake tools do, and prints what each reader saw as one JSON object:
{reader: {table: {"rows": n, "columns": [...]}}}.

    read_tables.py RUN_DIR TABLE...          DuckDB, pyarrow, pandas, Polars
    read_tables.py --spark RUN_DIR TABLE...  PySpark (local mode)
    read_tables.py --s3 ENDPOINT BUCKET/RUN_PREFIX TABLE...
                                             pyarrow's own S3 client

Run by the integration tests (tests/it/readers.rs) with .venv-test's
Python; the tests compare the counts and columns with the manifest.
"""

import json
import sys


def local_readers(run_dir, tables):
    import duckdb
    import pandas
    import polars
    import pyarrow.parquet as pq

    seen = {"duckdb": {}, "pyarrow": {}, "pandas": {}, "polars": {}}
    connection = duckdb.connect()
    for table in tables:
        directory = f"{run_dir}/{table}"
        glob = f"{directory}/*.parquet"
        relation = connection.sql(f"SELECT * FROM read_parquet('{glob}')")
        rows = connection.sql(f"SELECT count(*) FROM read_parquet('{glob}')").fetchall()[0][0]
        seen["duckdb"][table] = {"rows": rows, "columns": relation.columns}
        arrow_table = pq.read_table(directory)
        seen["pyarrow"][table] = {"rows": arrow_table.num_rows, "columns": arrow_table.column_names}
        frame = pandas.read_parquet(directory)
        seen["pandas"][table] = {"rows": len(frame), "columns": list(frame.columns)}
        polars_frame = polars.read_parquet(glob)
        seen["polars"][table] = {"rows": polars_frame.height, "columns": polars_frame.columns}
    return seen


def spark_reader(run_dir, tables):
    from pyspark.sql import SparkSession

    spark = (
        SparkSession.builder.master("local[1]")
        .appName("retention-readers")
        .config("spark.ui.enabled", "false")
        .config("spark.driver.bindAddress", "127.0.0.1")
        .config("spark.driver.host", "127.0.0.1")
        .getOrCreate()
    )
    try:
        seen = {}
        for table in tables:
            frame = spark.read.parquet(f"{run_dir}/{table}")
            seen[table] = {"rows": frame.count(), "columns": frame.columns}
        return {"spark": seen}
    finally:
        spark.stop()


def s3_reader(endpoint, run_prefix, tables):
    import pyarrow.parquet as pq
    from pyarrow import fs

    scheme, host = endpoint.split("://", 1)
    s3 = fs.S3FileSystem(
        access_key="test",
        secret_key="test",
        region="us-east-1",
        endpoint_override=host,
        scheme=scheme,
    )
    seen = {}
    for table in tables:
        arrow_table = pq.read_table(f"{run_prefix}/{table}", filesystem=s3)
        seen[table] = {"rows": arrow_table.num_rows, "columns": arrow_table.column_names}
    return {"pyarrow_s3": seen}


def main(argv):
    if argv[0] == "--spark":
        seen = spark_reader(argv[1], argv[2:])
    elif argv[0] == "--s3":
        seen = s3_reader(argv[1], argv[2], argv[3:])
    else:
        seen = local_readers(argv[0], argv[1:])
    print(json.dumps(seen))


if __name__ == "__main__":
    main(sys.argv[1:])
