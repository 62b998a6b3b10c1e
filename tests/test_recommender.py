"""The recommender's parts on inline rows: signals, holdout metrics, fold-in, eligibility, cold start."""

from __future__ import annotations

import math
from datetime import date, datetime
from decimal import Decimal

import numpy as np
import pandas as pd
import pytest
from scipy.sparse import csr_matrix

from features.daily import CUSTOMER_DAILY
from models.recommend.interactions import InteractionWeights, interactions, opened_between
from models.recommend.metrics import ranking_metrics
from models.recommend.model import FactorModel
from models.recommend.score import ContactRules, contactable, eligible_products, recommend
from models.recommend.train import AlsParams, fit_als, spectral_start
from tests.silver_rows import versions

AS_OF = date(2026, 3, 31)
W = InteractionWeights(half_life_days=30.0)


def account(aid, customer, product, opened, closed=None, status="ACTIVE", extract=date(2026, 3, 1)):
    return dict(account_id=aid, customer_id=customer, product_id=product, currency="CNY", open_date=opened,
                close_date=closed, balance=Decimal("100.00"), status=status, updated_at=datetime(2026, 3, 1, 8),
                _extract_date=extract)


def response(rid, customer, product, offered, responded=False, converted=False, answered=None, extract=None):
    return dict(response_id=rid, campaign_id="CMP", customer_id=customer, product_id=product, offer_ts=offered,
                channel="SMS", responded=responded, converted=converted, response_ts=answered,
                updated_at=answered or offered, _extract_date=extract or (answered or offered).date())


def daily(spark, rows):
    cols = CUSTOMER_DAILY.column_names
    zero = {f.name: (0.0 if f.type == "double" else 0) for f in CUSTOMER_DAILY.features if f.type in ("double", "bigint")}
    data = [tuple(r.get(c, zero.get(c)) for c in cols) for r in rows]
    return spark.createDataFrame(data, CUSTOMER_DAILY.ddl())


def test_interactions_weigh_each_signal_by_kind_and_age(spark):
    accounts = versions(spark, "accounts", [
        account("A1", "C1", "P0001", date(2026, 3, 1)),                        # opened 30 days ago: 1 + 2 x 1/2
        account("A2", "C1", "P0009", date(2025, 1, 1), closed=date(2026, 3, 1), status="CLOSED"),  # 0.3 x 1/2
        account("A3", "C1", "P0005", date(2026, 4, 10)),                       # opened after the as-of date
        # a bulk version of an account closed after the as-of date says CLOSED: it was open then
        account("A4", "C1", "P0006", date(2026, 1, 30), closed=date(2026, 4, 15), status="CLOSED"),
    ])
    responses = versions(spark, "campaign_responses", [
        response("R1", "C2", "P0018", datetime(2026, 2, 20, 9), True, True, datetime(2026, 3, 1, 9)),
        response("R2", "C2", "P0021", datetime(2026, 3, 30, 9), True, False, datetime(2026, 3, 31, 9)),
        response("R3", "C2", "P0030", datetime(2026, 3, 30, 9)),                # ignored offer: silent
        response("R4", "C2", "P0027", datetime(2026, 3, 30, 9), True, True, datetime(2026, 3, 31, 9),
                 extract=date(2026, 4, 2)),                                     # delivered after the as-of date
    ])
    day = daily(spark, [
        dict(customer_id="C2", activity_date=date(2026, 3, 1), known_date=date(2026, 3, 1), ecom_amount_travel=100.0),
        # an order retracted by a correction known by the as-of date leaves nothing
        dict(customer_id="C2", activity_date=date(2026, 3, 30), known_date=date(2026, 3, 30), ecom_amount_luxury=50.0),
        dict(customer_id="C2", activity_date=date(2026, 3, 30), known_date=date(2026, 3, 31), ecom_amount_luxury=-50.0),
        dict(customer_id="C2", activity_date=date(2026, 3, 31), known_date=date(2026, 3, 31), ecom_amount_grocery=20.0),
        dict(customer_id="C2", activity_date=date(2026, 3, 31), known_date=date(2026, 4, 1), ecom_amount_books=20.0),
    ])
    got = {(r["customer_id"], r["item"]): (round(r["strength"], 6), r["signal"])
           for r in interactions(accounts, responses, day, AS_OF, W).collect()}
    assert got == {
        ("C1", "P0001"): (2.0, "holds"),
        ("C1", "P0009"): (0.15, "held"),
        ("C1", "P0006"): (1.5, "holds"),
        ("C2", "P0018"): (1.0, "converted"),
        ("C2", "P0021"): (0.5, "responded"),
        ("C2", "ecom:TRAVEL"): (0.1, "shops"),
        ("C2", "ecom:GROCERY"): (0.2, "shops"),
    }
    opened = {(r["customer_id"], r["item"]) for r in opened_between(accounts, AS_OF, date(2026, 4, 30)).collect()}
    assert opened == {("C1", "P0005")}


def test_weights_reject_negative_values():
    with pytest.raises(ValueError, match="held"):
        InteractionWeights(held=-1.0)


def test_ranking_metrics_on_a_worked_example():
    got = ranking_metrics({"u1": ["a", "x", "b"], "u2": []}, {"u1": {"a", "b"}, "u2": {"c"}}, 3,
                          {"a", "b", "c", "x", "y"})
    ndcg_u1 = (1 + 1 / math.log2(4)) / (1 + 1 / math.log2(3))
    assert got["precision_at_3"] == pytest.approx((2 / 3) / 2)
    assert got["recall_at_3"] == pytest.approx(0.5)
    assert got["map_at_3"] == pytest.approx(((1 + 2 / 3) / 2) / 2)
    assert got["ndcg_at_3"] == pytest.approx(ndcg_u1 / 2)
    assert got["coverage_at_3"] == pytest.approx(0.6)
    assert got["holdout_customers"] == 2


def test_fold_in_is_the_als_user_step_and_reasons_split_the_score():
    rng = np.random.default_rng(3)
    dense = (rng.random((60, 12)) < 0.3) * rng.uniform(0.5, 3.0, (60, 12))
    m = csr_matrix(dense.astype(np.float32))
    items = [f"P{i:04d}" for i in range(10)] + ["ecom:TRAVEL", "ecom:BOOKS"]
    model = fit_als(m, items, AlsParams(factors=4, regularization=0.1, alpha=3.0, iterations=5))
    from implicit.cpu.als import AlternatingLeastSquares

    ref = AlternatingLeastSquares(factors=4, regularization=0.1, alpha=3.0)
    ref.item_factors = model.item_factors.astype(np.float32)
    for u in (0, 7, 33):
        row = m[u]
        held = [items[j] for j in row.indices]
        x, *_ = model.user_factors(held, list(row.data))
        expected = ref.recalculate_user(u, row)
        np.testing.assert_allclose(x, expected, rtol=1e-3, atol=1e-4)
    model.reasons = len(items)
    scored = model.score("C1", held, list(m[33].data))
    assert set(scored["product_id"]) == set(items[:10])          # side items are never offered
    for weights in scored["reason_weights"]:
        assert sum(weights) == pytest.approx(1.0, abs=1e-3)      # contributions add up to the score
    assert model.score("C9", ["P9999"], [1.0]).empty                # nothing the model knows: cold start



def test_spectral_start_is_the_truncated_svd_of_the_preferences_padded_with_noise():
    rng = np.random.default_rng(11)
    dense = (rng.random((80, 6)) < 0.4) * rng.uniform(0.5, 3.0, (80, 6))
    m = csr_matrix(dense.astype(np.float32))
    x, y = spectral_start(m, 3, random_state=1)
    u, s, vt = np.linalg.svd((dense > 0).astype(float), full_matrices=False)
    np.testing.assert_allclose(x @ y.T, (u[:, :3] * s[:3]) @ vt[:3], atol=1e-4)   # confidences play no part
    np.testing.assert_allclose(np.linalg.norm(y, axis=0) ** 2, s[:3], rtol=1e-4)  # split evenly: |y_k|^2 = s_k
    x8, y8 = spectral_start(m, 8, random_state=1)                                 # more factors than items
    assert x8.shape == (80, 8) and y8.shape == (6, 8) and x8.dtype == np.float32
    assert np.all((y8[:, 6:] >= 0) & (y8[:, 6:] < 0.01))                          # the rest start as noise


def test_the_spectral_start_fits_closer_than_implicits_noise_in_the_same_iterations():
    from implicit.cpu import _als

    rng = np.random.default_rng(4)
    taste = rng.normal(size=(400, 3)) @ rng.normal(size=(3, 30))                  # three latent tastes
    dense = (taste > 1.0) * rng.uniform(0.5, 2.0, taste.shape)
    m = csr_matrix(dense.astype(np.float32))
    items = [f"P{i:04d}" for i in range(30)]
    loss = {}
    for start in ("spectral", "random"):
        p = AlsParams(factors=8, regularization=0.1, alpha=5.0, iterations=5, num_threads=1, start=start)
        fit = fit_als(m, items, p)
        rows = [m[u] for u in range(m.shape[0])]
        x, _ = fit.solve(*fit.signals([[items[j] for j in r.indices] for r in rows], [list(r.data) for r in rows]))
        x = x.astype(np.float32)   # each customer's exact solve against the fitted items, as scoring does
        loss[start] = _als.calculate_loss((5.0 * m).tocsr(), x, fit.item_factors.astype(np.float32), 0.1,
                                          num_threads=1)
    assert loss["spectral"] < 0.9 * loss["random"]
    with pytest.raises(ValueError, match="start must be one of"):
        AlsParams(start="svd")


def test_batched_top_k_matches_each_customers_own_solve_and_honours_eligibility():
    rng = np.random.default_rng(5)
    items = [f"P{i:04d}" for i in range(8)] + ["ecom:TRAVEL"]
    model = FactorModel("als", items, rng.normal(size=(len(items), 3)), regularization=0.2, alpha=2.0, reasons=2)
    frame = pd.DataFrame({
        "customer_id": ["A", "B", "C", "D"],
        "items": [["P0001", "ecom:TRAVEL", "P0005"], ["P0002"], ["P9999"], ["P0003", "P0004"]],
        "strengths": [[1.0, 0.5, 2.0], [1.5], [1.0], [0.7, 0.0]],
        "eligible": [["P0000", "P0002", "P0003", "P0007"], ["P0000", "P0001"], ["P0000"], ["P0006"]]})
    got = model.score_frame(frame, k=2, chunk=2)                    # chunks of two: a batch boundary mid-frame
    assert "C" not in set(got["customer_id"])                         # no known signal: left to the baseline
    for row in frame.itertuples(index=False):
        sig = [(model._index[i], s * 2.0) for i, s in zip(row.items, row.strengths) if i in model._index and s > 0]
        if not sig:
            continue
        y = model.item_factors[[j for j, _ in sig]]
        c = np.array([v for _, v in sig])
        a = model.item_factors.T @ model.item_factors + 0.2 * np.eye(3) + (y.T * (c - 1.0)) @ y
        x = np.linalg.solve(a, (y.T * c).sum(axis=1))
        want = sorted(((-float(model.item_factors[model._index[p]] @ x), p) for p in row.eligible))[:2]
        mine = got[got["customer_id"] == row.customer_id]
        assert list(mine["product_id"]) == [p for _, p in want]       # best first, eligible only
        np.testing.assert_allclose(mine["score"], [-v for v, _ in want], rtol=1e-9)
        for score, reasons, weights in zip(mine["score"], mine["reason_items"], mine["reason_weights"]):
            assert len(reasons) == min(2, len(sig)) and set(reasons) <= {model.item_ids[j] for j, _ in sig}
            contributions = [w * score for w in weights]                # strongest contribution first
            assert contributions == sorted(contributions, reverse=True) or abs(score) < 1e-3

CUSTOMER = dict(customer_type="RETAIL", full_name_token="t", id_number_token="t", city="X", segment="MASS",
                risk_tolerance="C2", kyc_risk_rating="LOW", marketing_consent=True, branch_id="B001",
                onboarding_date=date(2020, 1, 1), status="ACTIVE", updated_at=datetime(2026, 3, 1),
                _extract_date=date(2026, 3, 1))


def product(pid, risk="R1", lo=18, hi=120, segments="MASS|AFFLUENT|PRIVATE", status="ACTIVE", launched=date(2020, 1, 1)):
    return dict(product_id=pid, product_name=f"Product {pid}", category="FUND", risk_level=risk, min_age=lo,
                max_age=hi, eligible_segments=segments, launch_date=launched, status=status,
                updated_at=datetime(2026, 3, 1), _extract_date=date(2026, 3, 1))


@pytest.fixture(scope="module")
def bank(spark):
    customers = versions(spark, "customers", [
        {**CUSTOMER, "customer_id": "C1", "birth_date": date(2006, 1, 1)},                      # 20, C2, MASS
        {**CUSTOMER, "customer_id": "C2", "birth_date": date(1980, 1, 1), "marketing_consent": False},
        {**CUSTOMER, "customer_id": "C3", "customer_type": "SME", "segment": "SME", "risk_tolerance": "C3",
         "birth_date": date(2025, 1, 1)},
        {**CUSTOMER, "customer_id": "C4", "birth_date": date(1980, 1, 1), "status": "CLOSED"},
        {**CUSTOMER, "customer_id": "C5", "birth_date": date(1990, 1, 1)},                      # no signals
    ])
    products = versions(spark, "products", [
        product("P0001"), product("P0002", risk="R3"), product("P0003", segments="AFFLUENT|PRIVATE"),
        product("P0004", hi=18), product("P0005"), product("P0006", status="RETIRED"),
        product("P0007", launched=date(2026, 4, 1)), product("P0008", risk="R3", lo=0, hi=5, segments="SME"),
        product("P0009", risk="R2"),
    ])
    accounts = versions(spark, "accounts", [account("A1", "C1", "P0005", date(2025, 1, 1)),
                                            account("A2", "C5", "P0005", date(2026, 4, 20))])
    return customers, products, accounts


def test_only_suitable_eligible_unheld_products_are_candidates(spark, bank):
    customers, products, accounts = bank
    got = {(r["customer_id"], r["product_id"]) for r in eligible_products(customers, products, accounts, AS_OF).collect()}
    assert {p for c, p in got if c == "C1"} == {"P0001", "P0009"}   # not R3, AFFLUENT-only, too old, held, ...
    assert {p for c, p in got if c == "C3"} == {"P0008"}            # an SME: segment and risk, not age
    assert "C4" not in {c for c, _ in got}                          # a closed relationship gets nothing


def test_contact_rules_need_consent_and_respect_the_cap(spark, bank):
    customers, _, _ = bank
    offers = versions(spark, "campaign_responses", [
        *[response(f"R{i}", "C1", "P0001", datetime(2026, 3, 10 + i, 9)) for i in range(3)],   # at the cap
        *[response(f"R{i + 5}", "C5", "P0001", datetime(2026, 3, 10 + i, 9)) for i in range(2)],
        *[response(f"R{i + 9}", "C3", "P0001", datetime(2026, 1, 10 + i, 9)) for i in range(5)],  # long ago
    ])
    got = {r["customer_id"] for r in contactable(customers, offers, AS_OF, ContactRules(True, 30, 3)).collect()}
    assert got == {"C3", "C5"}
    everyone = {r["customer_id"] for r in contactable(customers, offers, AS_OF, ContactRules(False, 30, 10)).collect()}
    assert everyone == {"C1", "C2", "C3", "C5"}


def test_recommend_explains_warm_customers_and_falls_back_to_the_segment_baseline(spark, bank):
    customers, products, accounts = bank
    items = ["P0001", "P0005", "P0009", "ecom:TRAVEL"]
    factors = np.array([[1.0, 0.0], [0.9, 0.1], [0.0, 1.0], [0.1, 1.0]])
    model = FactorModel("als", items, factors, 0.1, 2.0, {"MASS": [("P0009", 0.3), ("P0001", 0.1)]})
    signals = spark.createDataFrame([("C1", "P0005", 2.0, "holds"), ("C1", "ecom:TRAVEL", 0.4, "shops")],
                                    "customer_id string, item string, strength double, signal string")
    eligible = eligible_products(customers, products, accounts, AS_OF)
    labels = {"P0005": "Time Deposit 3M"}
    got = {(r["customer_id"], r["rank"]): r for r in recommend(customers, signals, eligible, model, labels, 1).collect()}
    warm = got[("C1", 1)]
    assert warm["product_id"] == "P0001" and not warm["is_cold_start"]
    assert warm["reason"] == "customer holds Time Deposit 3M and shops for TRAVEL online"
    cold = got[("C5", 1)]
    assert cold["is_cold_start"] and cold["product_id"] == "P0009" and cold["reason"] == "popular with MASS customers"
    assert {c for c, _ in got} == {"C1", "C2", "C5"}                # C3's segment has no baseline; C4 is closed
