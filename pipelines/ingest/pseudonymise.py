"""Keyed hashing of direct identifiers: HMAC-SHA256 computed in Spark SQL, so it scales with the data.

The same identifier gives the same token in every source (phones and e-mails link e-commerce users to bank
customers) but cannot be reversed or recomputed without the key, which lives outside the repo.
"""

from __future__ import annotations

import hashlib

from pyspark.sql import Column as SparkColumn
from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from pipelines.contracts import SourceContract

_BLOCK = 64  # SHA-256 block size in bytes (RFC 2104)


def normalised(kind: str, value: SparkColumn) -> SparkColumn:
    """One spelling per identifier, so '+86 138-0000' and '0086138 0000' hash alike."""
    if kind == "phone":
        digits = F.regexp_replace(value, r"[^0-9]", "")
        return F.regexp_replace(digits, r"^00", "")
    if kind == "email":
        return F.lower(F.trim(value))
    return F.upper(F.regexp_replace(F.trim(value), r"\s+", " "))


def hmac_sha256_hex(message: SparkColumn, key: bytes) -> SparkColumn:
    """HMAC-SHA256(key, message) as lowercase hex: H((K^opad) || H((K^ipad) || m))."""
    if len(key) > _BLOCK:
        key = hashlib.sha256(key).digest()
    key = key.ljust(_BLOCK, b"\0")
    ipad = bytes(b ^ 0x36 for b in key)
    opad = bytes(b ^ 0x5C for b in key)
    inner = F.unhex(F.sha2(F.concat(F.lit(bytearray(ipad)), message.cast("binary")), 256))
    return F.sha2(F.concat(F.lit(bytearray(opad)), inner), 256)


def identifier_token(kind: str, value: SparkColumn, key: bytes) -> SparkColumn:
    norm = normalised(kind, value)
    return F.when(norm.isNull() | (norm == ""), F.lit(None).cast("string")).otherwise(
        hmac_sha256_hex(F.concat(F.lit(kind + ":"), norm), key)
    )


def pseudonymise(df: DataFrame, contract: SourceContract, key: bytes) -> DataFrame:
    """Replaces each PII column `<name>` by `<name>_token`; no direct identifier survives."""
    out = df
    for c in contract.pii_columns:
        out = out.withColumn(c.silver_name, identifier_token(c.pii, F.col(c.name), key)).drop(c.name)
    return out
