"""The pinned pyspark / delta-spark pair works: a real Delta MERGE, time travel and change data feed."""

from delta.tables import DeltaTable


def test_pinned_pair_merges(spark, tmp_path):
    path = str(tmp_path / "t")
    spark.createDataFrame([(1, "a"), (2, "b")], "id int, v string").write.format("delta").save(path)
    target = DeltaTable.forPath(spark, path)
    updates = spark.createDataFrame([(2, "B"), (3, "c")], "id int, v string")
    (target.alias("t").merge(updates.alias("s"), "t.id = s.id")
     .whenMatchedUpdateAll().whenNotMatchedInsertAll().execute())
    assert sorted(map(tuple, spark.read.format("delta").load(path).collect())) == [(1, "a"), (2, "B"), (3, "c")]
    metrics = target.history(1).select("operation", "operationMetrics").first()
    assert metrics["operation"] == "MERGE"
    assert metrics["operationMetrics"]["numTargetRowsInserted"] == "1"
    assert metrics["operationMetrics"]["numTargetRowsUpdated"] == "1"
    assert spark.read.format("delta").option("versionAsOf", 0).load(path).count() == 2


def test_versions_match_the_pins(spark):
    import delta
    import pyspark

    from jobs.config import load_settings

    assert pyspark.__version__ == "4.0.1"
    assert spark.version.startswith("4.0.")
    assert load_settings("local").spark.delta_version == "4.0.1"
    jars = spark.sparkContext.getConf().get("spark.jars", "") + spark.sparkContext.getConf().get("spark.jars.packages", "")
    assert "delta-spark_2.13-4.0.1" in jars or "delta-spark_2.13:4.0.1" in jars
    assert delta.__name__ == "delta"
