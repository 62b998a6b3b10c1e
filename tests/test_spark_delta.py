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


def test_the_session_weights_the_ingestion_critical_path_pool(spark, test_settings):
    from jobs.spark import CRITICAL_POOL
    pool = spark.sparkContext._jsc.sc().getPoolForName(CRITICAL_POOL)
    assert pool.isDefined()
    assert pool.get().weight() == test_settings.ingest.critical_path_weight > 1


def test_the_critical_path_follows_the_most_landing_bytes_from_parent_to_child():
    from jobs.ingest import _chain_bytes, _critical_path
    from pipelines.contracts import dependency_order
    names = dependency_order()
    sizes = {"customers": 10, "products": 1, "accounts": 100, "transactions": 1500, "fraud_labels": 1,
             "ecommerce_events": 400, "invoices": 60, "firms": 5}
    assert _critical_path(names, _chain_bytes(names, sizes)) == {"customers", "accounts", "transactions",
                                                                  "fraud_labels"}
    # a big enough e-commerce feed takes the lead; sources with nothing to load are never on the path
    sizes["ecommerce_events"] = 5000
    assert _critical_path(names, _chain_bytes(names, sizes)) == {"ecommerce_events"}
    assert _critical_path(names, {n: 0 for n in names}) == set()

