"""`crm maintain` on real Delta tables: compaction, deletion vectors purged, content and change feeds kept."""

from __future__ import annotations

import pytest

from conftest import local_overrides, settings_for
from jobs.cli import main
from jobs.errors import CrmError
from jobs.maintain import maintain
from jobs.tables import build_catalog

SCHEMA = "product_id string, status string"


def test_maintain_compacts_and_purges_deletion_vectors_without_changing_rows_or_change_feeds(spark, tmp_path):
    settings = settings_for(tmp_path)
    catalog = build_catalog(settings)
    name = "silver.products"
    for i in range(4):  # four nightly appends: small files
        batch = spark.createDataFrame([(f"P{i}a", "old"), (f"P{i}b", "old")], SCHEMA).coalesce(1)
        catalog.append(spark, name, batch)
    table = catalog.delta(spark, name)
    fix = spark.createDataFrame([("P0a", "new")], SCHEMA)
    table.alias("t").merge(fix.alias("s"), "t.product_id = s.product_id").whenMatchedUpdateAll().execute()
    assert table.history(1).first().operationMetrics["numTargetDeletionVectorsAdded"] == "1"
    rows = sorted(catalog.read(spark, name).collect())
    before = catalog.version(spark, name)

    [done] = maintain(spark, settings, [name])
    assert done.table == name and done.files_before >= 5
    assert spark.conf.get("spark.databricks.delta.optimize.maxFileSize", None) is None  # the session's own again
    assert done.files_after == 1 and done.files_removed == done.files_before
    assert sorted(catalog.read(spark, name).collect()) == rows
    assert catalog.version(spark, name) == before + 1
    commit = spark.read.json(f"{catalog.location(name)}/_delta_log/{before + 1:020d}.json")
    adds = commit.where("add IS NOT NULL").select("add.*")
    assert adds.count() == 1
    assert "deletionVector" not in adds.columns or adds.where("deletionVector IS NOT NULL").count() == 0
    # a gold fold reading the change feed from here on sees nothing to redo
    feed = (spark.read.format("delta").option("readChangeFeed", "true").option("startingVersion", before + 1)
            .load(catalog.location(name)))
    assert feed.count() == 0

    [again] = maintain(spark, settings, [name])  # nothing left to compact: no new version
    assert again.files_removed == 0 and catalog.version(spark, name) == before + 1


def test_maintain_skips_tables_not_created_yet_and_rejects_unknown_names(spark, tmp_path, capsys):
    settings = settings_for(tmp_path)
    assert maintain(spark, settings) == []
    with pytest.raises(CrmError, match="unknown table silver.nope"):
        maintain(spark, settings, ["silver.nope"])
    sets = [x for o in local_overrides(tmp_path) for x in ("--set", o)]
    assert main(["maintain", "--table", "silver.nope", *sets]) == 1
    assert capsys.readouterr().err.startswith("crm maintain: error: unknown table silver.nope;")
    assert main(["maintain", *sets]) == 0
    assert "nothing to maintain" in capsys.readouterr().out
