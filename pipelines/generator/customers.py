"""The customer population: latent life stage, wealth, affinity and roles, and the KYC master extract."""

from __future__ import annotations

from pyspark.sql import Column, DataFrame, SparkSession
from pyspark.sql import functions as F

from pipelines.contracts.core_banking import PRODUCT_CATEGORIES
from pipelines.generator.context import Context, customer_id, firm_id_of_customer
from pipelines.generator.randomness import scrambled_id, sql_col

SURNAMES = ("Wang", "Li", "Zhang", "Liu", "Chen", "Yang", "Huang", "Zhao", "Wu", "Zhou", "Xu", "Sun", "Ma", "Zhu",
            "Hu", "Guo", "He", "Lin", "Gao", "Luo", "Zheng", "Liang", "Xie", "Song", "Tang", "Han", "Feng", "Deng")
GIVEN = ("Wei", "Fang", "Na", "Min", "Jing", "Li", "Qiang", "Lei", "Jun", "Yang", "Yong", "Yan", "Jie", "Juan",
         "Tao", "Ming", "Chao", "Xiuying", "Xia", "Ping", "Gang", "Hui", "Hao", "Yu", "Xin", "Ting", "Bo", "Lin",
         "Rui", "Zixuan", "Yichen", "Haoran", "Shu", "Mei", "Kai", "Lan")
CITIES = (  # city, ID-number region code, districts
    ("Shanghai", "3101", ("Pudong", "Xuhui", "Jing'an", "Minhang")),
    ("Beijing", "1101", ("Chaoyang", "Haidian", "Dongcheng", "Fengtai")),
    ("Shenzhen", "4403", ("Futian", "Nanshan", "Luohu", "Bao'an")),
    ("Guangzhou", "4401", ("Tianhe", "Yuexiu", "Haizhu", "Panyu")),
    ("Hangzhou", "3301", ("Xihu", "Binjiang", "Gongshu", "Shangcheng")),
    ("Chengdu", "5101", ("Jinjiang", "Wuhou", "Qingyang", "Chenghua")),
    ("Nanjing", "3201", ("Gulou", "Xuanwu", "Jianye", "Qinhuai")),
    ("Wuhan", "4201", ("Wuchang", "Jianghan", "Hongshan", "Qiaokou")),
    ("Suzhou", "3205", ("Gusu", "Wuzhong", "Xiangcheng", "Huqiu")),
    ("Tianjin", "1201", ("Heping", "Hexi", "Nankai", "Hedong")),
    ("Xi'an", "6101", ("Yanta", "Beilin", "Lianhu", "Xincheng")),
    ("Chongqing", "5001", ("Yuzhong", "Jiangbei", "Nan'an", "Shapingba")),
)
STREETS = ("Renmin", "Zhongshan", "Jiefang", "Heping", "Jianshe", "Xinhua", "Changjiang", "Huaihai", "Nanjing",
           "Century", "Binhe", "Wenhua", "Kexue", "Dongfeng", "Yan'an", "Shuguang")
EMAIL_DOMAINS = ("qq.com", "163.com", "126.com", "gmail.com", "outlook.com", "sina.com", "foxmail.com")
TRADE_WORDS = ("Huaxin", "Jinlong", "Tianyu", "Hengtai", "Ruifeng", "Zhongda", "Xinghe", "Baosheng", "Yongli",
               "Shengda", "Kaiyuan", "Dongfang", "Mingxin", "Fuxing", "Longteng", "Haitian", "Jiahe", "Anda")
FIRM_INDUSTRIES = ("MANUFACTURING", "WHOLESALE", "RETAIL", "LOGISTICS", "CONSTRUCTION", "AGRICULTURE",
                   "SERVICES", "TECHNOLOGY")
INDUSTRY_WORD = {"MANUFACTURING": "Precision Manufacturing", "WHOLESALE": "Trading", "RETAIL": "Retail",
                 "LOGISTICS": "Logistics", "CONSTRUCTION": "Construction", "AGRICULTURE": "Agricultural",
                 "SERVICES": "Business Services", "TECHNOLOGY": "Technology"}

LIFE_STAGES = (("STUDENT", 0.10), ("YOUNG_PROFESSIONAL", 0.28), ("FAMILY", 0.32), ("PRE_RETIREE", 0.15),
               ("RETIREE", 0.15))
AGE_RANGE = {"STUDENT": (18, 24), "YOUNG_PROFESSIONAL": (23, 34), "FAMILY": (30, 50), "PRE_RETIREE": (50, 62),
             "RETIREE": (60, 85), "SME": (1, 30)}
INCOME_MEDIAN = {"STUDENT": 12_000, "YOUNG_PROFESSIONAL": 140_000, "FAMILY": 210_000, "PRE_RETIREE": 250_000,
                 "RETIREE": 85_000, "SME": 5_000_000}
ASSET_MULT = {"STUDENT": 0.3, "YOUNG_PROFESSIONAL": 0.9, "FAMILY": 1.8, "PRE_RETIREE": 4.0, "RETIREE": 5.0,
              "SME": 0.4}
ACTIVITY = {"STUDENT": 0.8, "YOUNG_PROFESSIONAL": 1.25, "FAMILY": 1.1, "PRE_RETIREE": 0.9, "RETIREE": 0.6,
            "SME": 1.6}
RISK_BASE = {"STUDENT": 2, "YOUNG_PROFESSIONAL": 3, "FAMILY": 3, "PRE_RETIREE": 2, "RETIREE": 1, "SME": 3}
MARITAL = {
    "STUDENT": (("SINGLE", 1.0),),
    "YOUNG_PROFESSIONAL": (("SINGLE", 0.64), ("MARRIED", 0.34), ("DIVORCED", 0.02)),
    "FAMILY": (("MARRIED", 0.85), ("DIVORCED", 0.10), ("SINGLE", 0.05)),
    "PRE_RETIREE": (("MARRIED", 0.80), ("DIVORCED", 0.10), ("WIDOWED", 0.05), ("SINGLE", 0.05)),
    "RETIREE": (("MARRIED", 0.65), ("WIDOWED", 0.25), ("DIVORCED", 0.05), ("SINGLE", 0.05)),
}
OCCUPATION = {
    "STUDENT": (("STUDENT", 1.0),),
    "YOUNG_PROFESSIONAL": (("EMPLOYEE", 0.55), ("PROFESSIONAL", 0.30), ("CIVIL_SERVANT", 0.10), ("SELF_EMPLOYED", 0.05)),
    "FAMILY": (("EMPLOYEE", 0.45), ("PROFESSIONAL", 0.25), ("CIVIL_SERVANT", 0.10), ("SELF_EMPLOYED", 0.10),
               ("BUSINESS_OWNER", 0.05), ("UNEMPLOYED", 0.05)),
    "PRE_RETIREE": (("EMPLOYEE", 0.5), ("PROFESSIONAL", 0.2), ("CIVIL_SERVANT", 0.1), ("SELF_EMPLOYED", 0.1),
                    ("BUSINESS_OWNER", 0.1)),
    "RETIREE": (("RETIRED", 0.95), ("OTHER", 0.05)),
}
# Latent product-affinity groups: a base affinity per product category (others 0.2).
AFFINITY_GROUPS = {
    "SAVER": {"SAVINGS": 0.7, "TIME_DEPOSIT": 0.8, "BOND": 0.5, "INSURANCE": 0.35},
    "INVESTOR": {"FUND": 0.8, "WEALTH_MGMT": 0.7, "BOND": 0.5, "TIME_DEPOSIT": 0.3},
    "BORROWER": {"CREDIT_CARD": 0.8, "PERSONAL_LOAN": 0.7, "MORTGAGE": 0.6},
    "SPENDER": {"CREDIT_CARD": 0.9, "PERSONAL_LOAN": 0.4, "FUND": 0.3},
    "PROTECTOR": {"INSURANCE": 0.8, "TIME_DEPOSIT": 0.5, "SAVINGS": 0.5},
    "RELATIONSHIP": {"WEALTH_MGMT": 0.6, "INSURANCE": 0.5, "FUND": 0.5, "TIME_DEPOSIT": 0.5},
    "BUSINESS": {"SME_LOAN": 0.7, "TRADE_FINANCE": 0.6, "PAYROLL": 0.8},
}
GROUP_WEIGHTS = (("SAVER", 0.22), ("INVESTOR", 0.16), ("BORROWER", 0.16), ("SPENDER", 0.18), ("PROTECTOR", 0.14),
                 ("RELATIONSHIP", 0.14))
STAGE_ADJ = {
    "STUDENT": {"CREDIT_CARD": 0.1, "MORTGAGE": -0.4, "WEALTH_MGMT": -0.3, "TIME_DEPOSIT": -0.15, "INSURANCE": -0.2},
    "YOUNG_PROFESSIONAL": {"CREDIT_CARD": 0.15, "PERSONAL_LOAN": 0.1, "FUND": 0.05},
    "FAMILY": {"MORTGAGE": 0.3, "INSURANCE": 0.2, "PERSONAL_LOAN": 0.1},
    "PRE_RETIREE": {"WEALTH_MGMT": 0.15, "TIME_DEPOSIT": 0.15, "BOND": 0.1, "MORTGAGE": -0.1},
    "RETIREE": {"TIME_DEPOSIT": 0.3, "SAVINGS": 0.2, "CREDIT_CARD": -0.2, "MORTGAGE": -0.4, "PERSONAL_LOAN": -0.3},
}
RETAIL_ONLY = ("SAVINGS", "TIME_DEPOSIT", "CREDIT_CARD", "PERSONAL_LOAN", "MORTGAGE", "FUND", "WEALTH_MGMT",
               "INSURANCE", "BOND")
SME_ONLY = ("SME_LOAN", "TRADE_FINANCE", "PAYROLL")


def _by_stage(mapping: dict, stage: Column, default=None) -> Column:
    expr = None
    for k, v in mapping.items():
        v = v if isinstance(v, Column) else F.lit(v)
        expr = F.when(stage == k, v) if expr is None else expr.when(stage == k, v)
    return expr.otherwise(F.lit(default)) if default is not None else expr


def aff_col(cat: str) -> str:
    return f"aff_{cat}"


def population(spark: SparkSession, ctx: Context) -> DataFrame:
    """One row per customer with every latent attribute the other domains draw on (not a landing source)."""
    p, d = ctx.p, ctx.d
    i = sql_col("idx")
    n_branches = max(5, min(999, p.customers // 400))
    n_managers = max(1, min(9999, round(p.customers * 0.35 / 200)))
    base = spark.range(p.customers).withColumnRenamed("id", "idx")
    rank_sme = ctx.sme.rank(i)
    rank_role = ctx.roles.rank(i)
    stage = F.when(rank_sme < ctx.n_sme, F.lit("SME")).otherwise(d.weighted(LIFE_STAGES, "stage", i))
    df = base.select(
        i, customer_id(i).alias("customer_id"), (rank_sme < ctx.n_sme).alias("is_sme"), stage.alias("life_stage"),
        rank_role.alias("role_rank"), ctx.role_of(rank_role).alias("role"),
        (rank_role - ctx.role_start_of(rank_role)).alias("role_slot"),
    )
    st = sql_col("life_stage")
    lo = _by_stage({k: v[0] for k, v in AGE_RANGE.items()}, st)
    hi = _by_stage({k: v[1] for k, v in AGE_RANGE.items()}, st)
    age = lo + F.floor(d.u("age", i) * (hi - lo + 1))
    birth_day = -(age * 365 + d.below(365, "birthday", i))
    group = F.when(st == "SME", F.lit("BUSINESS")).otherwise(d.weighted(GROUP_WEIGHTS, "affinity_group", i))
    df = df.select("*", age.cast("int").alias("age"), birth_day.cast("int").alias("birth_day"), group.alias("affinity_group"))
    income = F.round(d.lognormal(_by_stage(INCOME_MEDIAN, st), F.when(st == "SME", 1.0).otherwise(0.55), "income", i), -2)
    assets = income * _by_stage(ASSET_MULT, st) * d.lognormal(1.0, 0.9, "assets", i)
    df = df.select("*", income.alias("income"), assets.alias("assets"))
    segment = (F.when(st == "SME", "SME").when(sql_col("assets") > 6_000_000, "PRIVATE")
               .when(sql_col("assets") > 700_000, "AFFLUENT").otherwise("MASS"))
    # per-category affinity: group base + life-stage shift + noise, in (0, 1)
    affs = []
    for cat in PRODUCT_CATEGORIES:
        g = None
        for name, prof in AFFINITY_GROUPS.items():
            v = F.lit(prof.get(cat, 0.2 if name != "BUSINESS" else 0.05))
            g = F.when(sql_col("affinity_group") == name, v) if g is None else g.when(sql_col("affinity_group") == name, v)
        adj = F.lit(0.0)
        for s, m in STAGE_ADJ.items():
            if cat in m:
                adj = adj + F.when(st == s, F.lit(m[cat])).otherwise(F.lit(0.0))
        if cat in SME_ONLY:
            g = F.when(st == "SME", g).otherwise(F.lit(0.0))
        elif cat in RETAIL_ONLY:
            g = F.when(st == "SME", F.lit(0.0)).otherwise(g)
        a = F.when(g <= 0, F.lit(0.0)).otherwise(
            F.least(F.lit(0.98), F.greatest(F.lit(0.02), g + adj + 0.15 * d.normal("aff_" + cat, i))))
        affs.append(F.round(a, 3).alias(aff_col(cat)))
    risk_score = (_by_stage(RISK_BASE, st) + F.when(sql_col("affinity_group") == "INVESTOR", 1).otherwise(0)
                  + F.round(0.8 * d.normal("risk_tol", i)))
    risk_score = F.least(F.lit(5), F.greatest(F.lit(1), risk_score)).cast("int")
    marital = F.when(st == "SME", F.lit(None).cast("string"))
    occupation = F.when(st == "SME", F.lit(None).cast("string"))
    for s in MARITAL:
        marital = marital.when(st == s, d.weighted(MARITAL[s], "marital", i))
        occupation = occupation.when(st == s, d.weighted(OCCUPATION[s], "occupation", i))
    branch_num = 1 + d.below(n_branches, "branch", i)
    city_i = F.pmod(branch_num - 1, F.lit(len(CITIES)))
    managed_p = F.when(segment.isin("AFFLUENT", "PRIVATE", "SME"), 0.95).otherwise(0.2)
    is_role = sql_col("role").isNotNull() & (sql_col("role") != "AML_FALSE_ALARM")
    churner = (~is_role) & d.bernoulli(p.churn_share, "churn", i)
    churn_day = F.floor(p.days * 0.25 + d.u("churn_day", i) * (p.days * 0.75 - 1)).cast("int")
    df = df.select(
        "*", segment.alias("segment"), *affs, risk_score.alias("risk_score"), marital.alias("marital_status"),
        occupation.alias("occupation"), branch_num.alias("branch_num"), city_i.alias("city_i"),
        F.when(d.bernoulli(managed_p, "managed", i), 1 + d.below(n_managers, "manager", i)).alias("manager_num"),
        F.when(churner, churn_day).alias("churn_day"),
        F.when(churner, churn_day - d.between(30, 90, "churn_start", i)).alias("churn_start_day"),
        F.when(churner, d.weighted((("CLOSED", 0.6), ("SILENT", 0.4)), "churn_kind", i)).alias("churn_kind"),
    )
    married = sql_col("marital_status").isin("MARRIED", "DIVORCED", "WIDOWED")
    wedding_day = F.least(F.lit(-30), sql_col("birth_day") + (24 + d.below(9, "wedding_age", i)) * 365 + d.below(365, "wedding", i))
    tenure_cap = F.least(F.lit(20 * 365), F.greatest(F.lit(60), (sql_col("age") - 18) * 365 + 200))
    onboarding_day = -(30 + F.floor(F.pow(d.u("tenure", i), 1.3) * tenure_cap)).cast("int")
    activity = d.lognormal(1.0, 0.5, "activity", i) * _by_stage(ACTIVITY, st) / 1.133
    dormant_until = F.when(sql_col("role") == "DORMANT_REACTIVATION",
                           d.between(max(1, p.days // 2), max(1, p.days - 4), "reactivate", i))
    kyc = F.when(is_role & d.bernoulli(0.3, "kyc_high", i), "HIGH").otherwise(
        d.weighted((("LOW", 0.8), ("MEDIUM", 0.17), ("HIGH", 0.03)), "kyc", i))
    traveler = d.bernoulli(F.when(sql_col("segment").isin("AFFLUENT", "PRIVATE"), 0.3).otherwise(0.07), "traveler", i)
    ecom_pref = F.when(st == "SME", 0.05).otherwise(
        F.greatest(F.lit(0.02), F.least(F.lit(0.7), 0.55 - (sql_col("age") - 18) * 0.008 + 0.1 * d.normal("ecom", i))))
    df = df.select(
        "*", F.when(married, wedding_day).alias("wedding_day"), onboarding_day.alias("onboarding_day"),
        activity.alias("activity"), dormant_until.alias("dormant_until"), kyc.alias("kyc_risk_rating"),
        traveler.alias("traveler"), ecom_pref.alias("ecom_pref"),
        d.bernoulli(0.7, "consent", i).alias("marketing_consent"),
        F.when(st == "SME", "U").otherwise(d.choice(("F", "M"), "gender", i)).alias("gender"),
        d.choice(SURNAMES, "surname", i).alias("surname"), d.choice(GIVEN, "given", i).alias("given_name"),
        d.choice(TRADE_WORDS, "trade1", i).alias("trade_word"),
        d.choice(FIRM_INDUSTRIES, "industry", i).alias("industry"),
    )
    return df.select("*", *_pii(ctx))


def _pii(ctx: Context) -> list[Column]:
    d, i = ctx.d, sql_col("idx")
    city = F.element_at(F.array(*[F.lit(c[0]) for c in CITIES]), (sql_col("city_i") + 1).cast("int"))
    region = F.element_at(F.array(*[F.lit(c[1]) for c in CITIES]), (sql_col("city_i") + 1).cast("int"))
    districts = F.element_at(F.array(*[F.array(*[F.lit(x) for x in c[2]]) for c in CITIES]), (sql_col("city_i") + 1).cast("int"))
    district = F.element_at(districts, (d.below(4, "district", i) + 1).cast("int"))
    is_sme = sql_col("is_sme")
    firm_name = F.concat_ws(" ", city, sql_col("trade_word"),
                            F.element_at(F.create_map(*[x for k, v in INDUSTRY_WORD.items() for x in (F.lit(k), F.lit(v))]),
                                         sql_col("industry")), F.lit("Co., Ltd."))
    person = F.concat_ws(" ", sql_col("surname"), sql_col("given_name"))
    birth = F.date_format(ctx.t.date(sql_col("birth_day")), "yyyyMMdd")
    retail_id = F.concat(region, F.lpad(F.pmod(F.floor(i / 1000), F.lit(100)).cast("string"), 2, "0"), birth,
                         F.lpad(F.pmod(i, F.lit(1000)).cast("string"), 3, "0"),
                         F.pmod(F.floor(i / 100000), F.lit(10)).cast("string"))
    org = scrambled_id("", i, 9)
    sme_id = F.concat(F.lit("91"), region, F.lit("00"), org, F.pmod(i, F.lit(10)).cast("string"))
    phone = F.concat(F.lit("+861"), d.choice(("3", "5", "7", "8", "9"), "phone_prefix", i),
                     F.lpad(F.pmod(i * F.lit(7654321) + F.lit(13579), F.lit(10**9)).cast("string"), 9, "0"))
    email = F.when(is_sme, F.concat(F.lit("finance."), F.lower(sql_col("trade_word")), i.cast("string"), F.lit("@corp.cn"))) \
        .when(d.bernoulli(F.when(sql_col("life_stage") == "RETIREE", 0.35).otherwise(0.05), "no_email", i), F.lit(None)) \
        .otherwise(F.concat(F.lower(sql_col("given_name")), F.lit("."), F.lower(sql_col("surname")), i.cast("string"),
                            F.lit("@"), d.choice(EMAIL_DOMAINS, "email_domain", i)))
    address = F.concat(F.lit("Building "), (F.floor(i / 2000) + 1).cast("string"), F.lit(", Room "),
                       (F.pmod(i, F.lit(2000)) + 101).cast("string"), F.lit(", "),
                       d.choice(STREETS, "street", i), F.lit(" Road, "), district, F.lit(" District, "), city)
    return [city.alias("city"), F.when(is_sme, firm_name.alias("n")).otherwise(person).alias("full_name"),
            F.when(is_sme, sme_id).otherwise(retail_id).alias("id_number"), phone.alias("phone"),
            email.alias("email"), address.alias("address")]


def customers_landing(pop: DataFrame, ctx: Context) -> DataFrame:
    """The KYC master: everyone in the bulk extract; changes re-sent whole in the extract of their day."""
    p, t, d = ctx.p, ctx.t, ctx.d
    i = sql_col("idx")
    change_day = F.lit(p.bulk_day + 1) + d.below(max(1, p.daily_days), "cust_change_day", i)
    has_change = F.lit(p.daily_days > 0) & d.bernoulli(0.08, "cust_change", i)
    change_kind = d.weighted((("CONSENT", 0.4), ("ADDRESS", 0.3), ("SEGMENT", 0.15), ("KYC", 0.15)), "cust_change_kind", i)
    closes = (sql_col("churn_kind") == "CLOSED")
    versions = F.array(
        F.struct(F.lit(p.bulk_day).alias("day"), F.lit(0).alias("v")),
        F.struct(F.when(has_change & (~closes | (change_day < sql_col("churn_day"))), change_day).alias("day"), F.lit(1).alias("v")),
        F.struct(F.when(closes & (sql_col("churn_day") > p.bulk_day), sql_col("churn_day")).alias("day"), F.lit(2).alias("v")),
    )
    v = pop.select("*", F.explode(versions).alias("ver")).where(sql_col("ver.day").isNotNull() & (sql_col("ver.day") <= p.last_day))
    day = sql_col("ver.day")
    changed = has_change & (day >= change_day)
    consent = F.when(changed & (change_kind == "CONSENT"), ~sql_col("marketing_consent")).otherwise(sql_col("marketing_consent"))
    address = F.when(changed & (change_kind == "ADDRESS"),
                     F.regexp_replace(sql_col("address"), "^Building ", "Block ")).otherwise(sql_col("address"))
    segment = F.when(changed & (change_kind == "SEGMENT") & (sql_col("segment") == "MASS"), "AFFLUENT") \
        .when(changed & (change_kind == "SEGMENT") & (sql_col("segment") == "AFFLUENT"), "PRIVATE").otherwise(sql_col("segment"))
    kyc = F.when(changed & (change_kind == "KYC"), F.when(sql_col("kyc_risk_rating") == "LOW", "MEDIUM").otherwise("HIGH")) \
        .otherwise(sql_col("kyc_risk_rating"))
    closed = closes & (sql_col("churn_day") <= day)
    # the bulk version was produced some time between onboarding and the bulk date; later ones on their day
    bulk_upd_day = F.greatest(sql_col("onboarding_day"), F.lit(p.bulk_day) - d.below(500, "cust_upd", i))
    upd_day = F.when(sql_col("ver.v") == 0, F.when(closed, sql_col("churn_day")).otherwise(bulk_upd_day)).otherwise(day)
    upd = t.ts(upd_day, d.between(7 * 3600, 22 * 3600, "cust_upd_s", i, sql_col("ver.v")))
    return v.select(
        "customer_id",
        F.when(sql_col("is_sme"), "SME").otherwise("RETAIL").alias("customer_type"),
        "full_name", "id_number", "phone", "email", address.alias("address"),
        t.date(sql_col("birth_day")).alias("birth_date"), "gender", "marital_status",
        t.date(sql_col("wedding_day")).alias("wedding_date"), "occupation",
        sql_col("income").alias("annual_income"), "city", segment.alias("segment"),
        F.concat(F.lit("C"), sql_col("risk_score").cast("string")).alias("risk_tolerance"),
        kyc.alias("kyc_risk_rating"), consent.alias("marketing_consent"),
        F.concat(F.lit("B"), F.lpad(sql_col("branch_num").cast("string"), 3, "0")).alias("branch_id"),
        F.when(sql_col("manager_num").isNotNull(),
               F.concat(F.lit("AM"), F.lpad(sql_col("manager_num").cast("string"), 4, "0"))).alias("account_manager_id"),
        F.when(sql_col("is_sme"), firm_id_of_customer(i)).alias("firm_id"),
        t.date(sql_col("onboarding_day")).alias("onboarding_date"),
        F.when(closed, "CLOSED").otherwise("ACTIVE").alias("status"),
        upd.alias("updated_at"), t.date(day).alias("extract_date"),
    )
