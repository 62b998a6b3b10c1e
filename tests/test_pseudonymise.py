"""Keyed hashing of direct identifiers, computed in Spark, equals the standard HMAC-SHA256."""

import hashlib
import hmac

from pyspark.sql import functions as F

from pipelines.ingest.pseudonymise import hmac_sha256_hex, identifier_token


def test_spark_hmac_equals_python_hmac(spark):
    key = b"k" * 100  # longer than the SHA-256 block: hashed first, as RFC 2104 says
    values = ["", "a", "+8613800000001", "名字 with unicode", "x" * 300]
    rows = spark.createDataFrame([(v,) for v in values], "v string").select(
        "v", hmac_sha256_hex(F.col("v"), key).alias("h")).collect()
    for r in rows:
        assert r["h"] == hmac.new(key, r["v"].encode(), hashlib.sha256).hexdigest()


def test_tokens_link_spellings_of_one_identifier_and_need_the_key(spark):
    df = spark.createDataFrame([("+86 138-0000-0001",), ("008613800000001",), ("+8613800000002",), (None,)], "p string")
    t1 = [r[0] for r in df.select(identifier_token("phone", F.col("p"), b"key-1")).collect()]
    t2 = [r[0] for r in df.select(identifier_token("phone", F.col("p"), b"key-2")).collect()]
    assert t1[0] == t1[1] != t1[2]
    assert t1[3] is None
    assert t1[0] != t2[0]
    emails = spark.createDataFrame([(" Li.Wei@Example.com ",), ("li.wei@example.com",)], "e string")
    e = [r[0] for r in emails.select(identifier_token("email", F.col("e"), b"key-1")).collect()]
    assert e[0] == e[1]
