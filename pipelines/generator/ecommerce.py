"""The e-commerce partner: platform users (a share of the bank's retail customers, who register with the
same phone and e-mail, plus people who do not bank here), their orders and browsing events."""

from __future__ import annotations

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from pipelines.contracts.ecommerce import ECOM_CATEGORIES
from pipelines.generator.context import Context
from pipelines.generator.customers import EMAIL_DOMAINS, GIVEN, SURNAMES
from pipelines.generator.randomness import scrambled_id, sql_col
from pipelines.generator.timeline import with_later_version

FAVOURITES = {
    "STUDENT": ("EDUCATION", "ELECTRONICS", "FASHION", "BOOKS"),
    "YOUNG_PROFESSIONAL": ("ELECTRONICS", "FASHION", "TRAVEL", "SPORTS"),
    "FAMILY": ("BABY", "GROCERY", "HOME", "EDUCATION"),
    "PRE_RETIREE": ("HOME", "HEALTH", "TRAVEL", "GROCERY"),
    "RETIREE": ("HEALTH", "GROCERY", "BOOKS", "HOME"),
    "RICH": ("LUXURY", "TRAVEL", "BEAUTY", "ELECTRONICS"),
}
MEDIAN_BASKET = {"ELECTRONICS": 900, "FASHION": 260, "GROCERY": 120, "HOME": 300, "BEAUTY": 220, "TRAVEL": 1500,
                 "EDUCATION": 600, "SPORTS": 300, "BABY": 200, "LUXURY": 5000, "BOOKS": 80, "HEALTH": 150}
NON_CUSTOMER_SHARE = 0.4
NON_CUSTOMER_OFFSET = 50_000_000


def platform_users(spark: SparkSession, pop: DataFrame, ctx: Context) -> DataFrame:
    """One row per platform user: customer_id (null for non-customers), phone, e-mail, favourite categories."""
    p, d = ctx.p, ctx.d
    i = sql_col("idx")
    linked = pop.where(~sql_col("is_sme") & d.bernoulli(p.ecommerce_share, "ecom_user", i)).select(
        i.alias("uidx"), "customer_id", "phone",
        F.when(d.bernoulli(0.1, "ecom_no_email", i), F.lit(None)).otherwise(sql_col("email")).alias("email"),
        F.when(sql_col("segment") == "PRIVATE", "RICH").otherwise(sql_col("life_stage")).alias("profile"),
        sql_col("activity"))
    n_other = int(p.customers * (1 - p.sme_share) * p.ecommerce_share * NON_CUSTOMER_SHARE)
    u = sql_col("id") + NON_CUSTOMER_OFFSET
    other = spark.range(n_other).select(
        u.alias("uidx"), F.lit(None).cast("string").alias("customer_id"),
        F.concat(F.lit("+861"), d.choice(("3", "5", "7", "8", "9"), "phone_prefix", u),
                 F.lpad(F.pmod(u * F.lit(7654321) + F.lit(13579), F.lit(10**9)).cast("string"), 9, "0")).alias("phone"),
        F.when(d.bernoulli(0.3, "ecom_other_email", u), F.concat(
            F.lower(d.choice(GIVEN, "given", u)), F.lit("_"), F.lower(d.choice(SURNAMES, "surname", u)),
            u.cast("string"), F.lit("@"), d.choice(EMAIL_DOMAINS, "email_domain", u))).alias("email"),
        d.choice(tuple(FAVOURITES), "ecom_profile", u).alias("profile"), d.lognormal(1.0, 0.5, "activity", u).alias("activity"))
    users = linked.unionByName(other)
    fav = F.element_at(F.create_map(*[x for k, v in FAVOURITES.items() for x in (F.lit(k), F.array(*[F.lit(c) for c in v]))]),
                       sql_col("profile"))
    return users.select("*", scrambled_id("PU", sql_col("uidx"), 9).alias("platform_user_id"), fav.alias("favourites"))


def _category(ctx: Context, *keys):
    d = ctx.d
    fav = F.element_at(sql_col("favourites"), (d.below(4, "ecom_fav", *keys) + 1).cast("int"))
    return F.when(d.bernoulli(0.7, "ecom_is_fav", *keys), fav).otherwise(d.choice(ECOM_CATEGORIES, "ecom_cat", *keys))


def ecommerce_orders_landing(users: DataFrame, ctx: Context) -> DataFrame:
    p, t, d = ctx.p, ctx.t, ctx.d
    u = sql_col("uidx")
    n = F.floor(0.08 * p.days * sql_col("activity") + d.u("n_orders", u)).cast("int")
    x = users.select("*", n.alias("n")).where(sql_col("n") > 0)
    x = x.select("*", F.explode(F.sequence(F.lit(0), sql_col("n") - 1)).alias("k"))
    k = sql_col("k")
    cat = _category(ctx, u, k, F.lit("o"))
    hour = F.element_at(F.array(*[F.lit(h) for h in (8, 10, 12, 13, 19, 20, 21, 22, 23, 15)]),
                        (d.below(10, "o_h", u, k) + 1).cast("int"))
    sec = d.below(p.days, "o_day", u, k) * 86400 + hour * 3600 + d.below(3600, "o_s", u, k)
    x = x.select("*", cat.alias("category"), sec.alias("sec"))
    med = F.element_at(F.create_map(*[x for c, m in MEDIAN_BASKET.items() for x in (F.lit(c), F.lit(float(m)))]), sql_col("category"))
    later = d.weighted((("NONE", 0.9), ("CANCELLED", 0.04), ("RETURNED", 0.06)), "o_status", u, k)
    x = x.select("*", later.alias("later"), (sql_col("sec") + d.between(3600, 12 * 86400, "o_later", u, k)).alias("later_sec"))
    x = with_later_version(x, sql_col("later") != "NONE", sql_col("sec") + d.below(120, "o_upd", u, k),
                           sql_col("later_sec"), p.last_day)
    after = sql_col("v") == 1
    return x.select(
        scrambled_id("O", u * 1000 + k, 10).alias("order_id"), "platform_user_id", "phone", "email",
        t.ts(0, sql_col("sec")).alias("order_ts"), "category",
        F.round(d.lognormal(med, 0.6, "o_amt", u, k), 2).alias("amount"),
        F.when(d.bernoulli(0.03, "o_ccy", u, k), "USD").otherwise("CNY").alias("currency"),
        (1 + F.floor(F.pow(d.u("o_items", u, k), 3) * 6)).cast("int").alias("item_count"),
        d.weighted((("WALLET", .55), ("CARD", .3), ("BANK_TRANSFER", .1), ("CASH_ON_DELIVERY", .05)), "o_pay", u, k).alias("payment_method"),
        F.when(after, sql_col("later")).otherwise("COMPLETED").alias("status"),
        t.ts(0, sql_col("upd")).alias("updated_at"), t.date(t.extract_day(sql_col("vday"))).alias("extract_date"),
    )


def ecommerce_events_landing(users: DataFrame, ctx: Context) -> DataFrame:
    p, t, d = ctx.p, ctx.t, ctx.d
    u = sql_col("uidx")
    n = F.least(F.lit(9999), F.floor(0.5 * p.days * sql_col("activity") + d.u("n_events", u))).cast("int")
    x = users.select("*", n.alias("n")).where(sql_col("n") > 0)
    x = x.select("*", F.explode(F.sequence(F.lit(0), sql_col("n") - 1)).alias("k"))
    k = sql_col("k")
    session = F.floor(k / 4)  # about four events per browsing session
    day = d.below(p.days, "e_day", u, session)
    sec = day * 86400 + (8 + d.below(15, "e_h", u, session)) * 3600 + d.below(3000, "e_s", u, session) + (k - session * 4) * 45
    return x.select(
        scrambled_id("E", u * 10_000 + k, 12).alias("event_id"), "platform_user_id", "phone", "email",
        t.ts(0, sec).alias("event_ts"),
        d.weighted((("VIEW", .65), ("SEARCH", .2), ("ADD_TO_CART", .1), ("WISHLIST", .05)), "e_type", u, k).alias("event_type"),
        _category(ctx, u, session, F.lit("e")).alias("category"),
        F.concat(F.lit("S"), sql_col("platform_user_id"), F.lit("-"), session.cast("string")).alias("session_id"),
        d.weighted((("MOBILE", .75), ("DESKTOP", .2), ("TABLET", .05)), "e_dev", u).alias("device_type"),
        t.date(t.extract_day(day)).alias("extract_date"),
    )


def ecommerce_users_truth(users: DataFrame) -> DataFrame:
    return users.select("platform_user_id", "customer_id", sql_col("profile").alias("affinity_profile"), "favourites")
