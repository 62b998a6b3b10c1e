"""Silver record versions built inline, for feature tests."""

from __future__ import annotations

from pipelines.contracts import CONTRACTS


def versions(spark, source: str, rows: list[dict]):
    """Rows of silver.<source>_versions: the contract's silver columns plus `_extract_date` and `_source_file`."""
    c = CONTRACTS[source]
    cols = [col.silver_name for col in c.columns]
    data = [tuple(r.get(n) for n in cols) + (r["_extract_date"], "f") for r in rows]
    ddl = (", ".join(f"`{col.silver_name}` {col.type}" for col in c.columns)
           + ", _extract_date date, _source_file string")
    return spark.createDataFrame(data, ddl)
