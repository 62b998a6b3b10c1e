"""BG/NBD and Gamma-Gamma against the published CDNOW results, plus the predictions' invariants (no Spark)."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy.optimize import OptimizeResult, approx_fprime

from models.lifecycle import btyd
from models.lifecycle.btyd import BgNbd, Fit, GammaGamma, discounted_value

CDNOW = Path(__file__).parent / "data" / "cdnow"
CALIBRATION_END = pd.Timestamp("1997-09-30")

# Fader, Hardie & Lee (2005) "Counting Your Customers the Easy Way", CDNOW sample, 39-week calibration.
FHL_2005 = {"r": 0.243, "alpha": 4.414, "a": 0.793, "b": 2.426}
FHL_2005_LL = -9582.4
# Fader & Hardie (2013) "The Gamma-Gamma Model of Monetary Value", same customers (946 with repeat purchases).
FH_2013 = {"p": 6.25, "q": 3.74, "v": 15.44}


def assert_sig(estimate: float, published: float, figures: int) -> None:
    """`estimate` agrees with `published` to `figures` significant figures (within half a unit of the last)."""
    half_unit = 0.5 * 10 ** (math.floor(math.log10(abs(published))) - figures + 1)
    assert abs(estimate - published) <= half_unit, f"{estimate} != {published} to {figures} s.f."


@pytest.fixture(scope="module")
def summary() -> pd.DataFrame:
    """Per-customer x, t_x, T (weeks) and zbar (mean repeat-transaction value), 2,357 customers."""
    return pd.read_csv(CDNOW / "cdnow_customers_summary_with_transactions.csv")


@pytest.fixture(scope="module")
def bg_fit(summary) -> Fit[BgNbd]:
    return BgNbd.fit_with_ll(summary["x"], summary["t_x"], summary["T"])


@pytest.fixture(scope="module")
def gg(summary) -> GammaGamma:
    return GammaGamma.fit(summary["x"], summary["zbar"])


def summary_from_transactions() -> pd.DataFrame:
    """x, t_x, T and unrounded zbar rebuilt from the raw CDNOW_sample transactions (same-day purchases merged)."""
    raw = pd.read_csv(CDNOW / "CDNOW_sample.txt", sep=r"\s+", header=None,
                      names=["master_id", "ID", "date", "quantity", "amount"])
    raw["date"] = pd.to_datetime(raw["date"].astype(str), format="%Y%m%d")
    daily = raw[raw["date"] <= CALIBRATION_END].groupby(["ID", "date"], as_index=False)["amount"].sum()
    first = daily.groupby("ID")["date"].transform("min")
    repeats = daily[daily["date"] > first].assign(weeks=(daily["date"] - first).dt.days / 7)
    by_id = repeats.groupby("ID")
    out = pd.DataFrame({"x": by_id.size(), "t_x": by_id["weeks"].max(), "zbar": by_id["amount"].mean()})
    out = out.reindex(sorted(raw["ID"].unique()), fill_value=0).fillna(0.0)
    out["T"] = (CALIBRATION_END - daily.groupby("ID")["date"].min()).dt.days / 7
    return out.rename_axis("ID").reset_index()


# ---- BG/NBD -----------------------------------------------------------------------------------------------------
def test_bgnbd_fit_reproduces_fhl_2005(summary, bg_fit):
    """FHL 2005 section 4: r = 0.243, alpha = 4.414, a = 0.793, b = 2.426, LL = -9582.4."""
    assert bg_fit.n == 2357
    for name, published in FHL_2005.items():
        assert_sig(getattr(bg_fit.model, name), published, 3)
    assert abs(bg_fit.log_likelihood - FHL_2005_LL) < 0.05
    published_ll = BgNbd(**FHL_2005).log_likelihood(summary["x"], summary["t_x"], summary["T"])
    assert published_ll <= bg_fit.log_likelihood < published_ll + 0.01


def test_bgnbd_fit_is_start_independent_and_weights_equal_repeated_rows(summary, bg_fit):
    other = BgNbd.fit(summary["x"], summary["t_x"], summary["T"], initial=(2.0, 0.5, 3.0, 0.3))
    for name in FHL_2005:
        assert getattr(other, name) == pytest.approx(getattr(bg_fit.model, name), rel=1e-4)
    grouped = summary.groupby(["x", "t_x", "T"], as_index=False).size()
    assert len(grouped) < len(summary)
    m = bg_fit.model
    assert m.log_likelihood(grouped["x"], grouped["t_x"], grouped["T"], weights=grouped["size"]) == pytest.approx(
        m.log_likelihood(summary["x"], summary["t_x"], summary["T"]), rel=1e-12)
    weighted = BgNbd.fit(grouped["x"], grouped["t_x"], grouped["T"], weights=grouped["size"])
    assert weighted.r == pytest.approx(m.r, rel=1e-6)


def test_bgnbd_gradient_matches_finite_differences(summary):
    """The analytic gradient the optimiser uses, in log-parameters, away from the optimum."""
    x, t_x, T = (summary[c].to_numpy(dtype=float) for c in ("x", "t_x", "T"))
    theta = np.log([0.4, 6.0, 0.6, 1.5])
    _, grad = BgNbd(*np.exp(theta))._loglik_terms(x, t_x, T, grad=True)
    numeric = approx_fprime(theta, lambda th: BgNbd(*np.exp(th)).log_likelihood(x, t_x, T), 1e-7)
    np.testing.assert_allclose(grad.sum(axis=1), numeric, rtol=1e-4)


def test_conditional_expectation_worked_example(bg_fit):
    """FHL 2005 section 4: customer 1 of the sample (x = 2, t_x = 30.43, T = 38.86) expects 1.226 purchases in the
    next 39 weeks."""
    assert_sig(float(bg_fit.model.expected_purchases(39, 2, 30.43, 38.86)), 1.226, 4)
    assert_sig(float(BgNbd(**FHL_2005).expected_purchases(39, 2, 30.43, 38.86)), 1.226, 4)


def test_new_customer_expectation(bg_fit):
    """Eq. 7 equals eq. 10 at x = t_x = T = 0 (two different hypergeometric forms), and a simulation of the model."""
    m = bg_fit.model
    t = np.array([0.0, 0.5, 1.0, 39.0, 78.0, 1000.0, 1e6])
    np.testing.assert_allclose(m.expected_purchases_new(t), m.expected_purchases(t, 0, 0, 0), rtol=1e-9, atol=1e-12)
    assert np.all(np.diff(m.expected_purchases_new(t)) > 0)
    rng = np.random.default_rng(7)
    n = 200_000
    rate, drop = rng.gamma(m.r, 1 / m.alpha, n), rng.beta(m.a, m.b, n)
    for weeks in (39.0, 78.0):
        # repeat purchases = Poisson(rate t), cut at the purchase after which the customer drops out (geometric)
        purchases = np.minimum(rng.poisson(rate * weeks), rng.geometric(drop))
        se = purchases.std() / math.sqrt(n)
        assert abs(purchases.mean() - float(m.expected_purchases_new(weeks))) < 4 * se


def test_p_alive(bg_fit):
    m = bg_fit.model
    assert np.all(m.p_alive([0, 0, 0], [0, 0, 0], [1.0, 38.86, 500.0]) == 1.0)
    recent, lapsed = m.p_alive([3, 3], [38.0, 5.0], [38.86, 38.86])
    assert 0 < lapsed < recent < 1
    x = np.arange(0, 40)
    p = m.p_alive(x, np.minimum(x, 20.0), np.full(x.shape, 38.86))
    assert np.all((p >= 0) & (p <= 1))
    assert isinstance(m.p_alive(pd.Series([1, 2]), pd.Series([3.0, 4.0]), pd.Series([5.0, 6.0])), np.ndarray)
    assert np.isnan(m.p_alive(np.nan, 1.0, 5.0)[()])


def test_numerically_stable_for_heavy_buyers(bg_fit):
    m = bg_fit.model
    x, t_x, T = np.array([500.0, 500.0, 2000.0]), np.array([990.0, 10.0, 999.0]), np.array([1000.0, 1000.0, 1000.0])
    for horizon in (1.0, 52.0, 1000.0):
        e = m.expected_purchases(horizon, x, t_x, T)
        assert np.all(np.isfinite(e)) and np.all(e >= 0)
    p = m.p_alive(x, t_x, T)
    assert np.all(np.isfinite(p)) and 0.5 < p[0] <= 1 and p[1] < 1e-6
    # an alive heavy buyer keeps buying at about their observed rate x / T
    assert m.expected_purchases(52.0, 500, 999.9, 1000)[()] == pytest.approx(52 * 500 / 1000, rel=0.05)


# ---- Gamma-Gamma ------------------------------------------------------------------------------------------------
def test_gamma_gamma_reproduces_fh_2013(summary):
    """FH 2013: p = 6.25, q = 3.74, gamma (our v) = 15.44 on the 946 repeat customers.

    The summary file rounds zbar to cents, which moves v to 15.448 (still 15.4 to 3 s.f.); zbar recomputed from
    the raw CDNOW_sample transactions (purchases of one customer on one day merged into one transaction, as in the
    papers' x) gives p = 6.2496, q = 3.7442, v = 15.4435: every published digit.
    """
    fit = GammaGamma.fit_with_ll(summary["x"], summary["zbar"])
    assert fit.n == 946
    for name, published in FH_2013.items():
        assert_sig(getattr(fit.model, name), published, 3)
    raw = summary_from_transactions()
    assert (raw["x"].to_numpy() == summary["x"].to_numpy()).all()
    for col in ("t_x", "T", "zbar"):
        np.testing.assert_allclose(raw[col], summary[col], atol=0.005 + 1e-9)
    exact = GammaGamma.fit(raw["x"], raw["zbar"])
    for name, published in FH_2013.items():
        assert_sig(getattr(exact, name), published, len(str(published).replace(".", "")))


def test_gamma_gamma_gradient_matches_finite_differences(summary):
    rep = summary[summary["x"] > 0]
    x, m = rep["x"].to_numpy(dtype=float), rep["zbar"].to_numpy()
    theta = np.log([4.0, 2.5, 20.0])
    _, grad = GammaGamma(*np.exp(theta))._loglik_terms(x, m, grad=True)
    numeric = approx_fprime(theta, lambda th: GammaGamma(*np.exp(th)).log_likelihood(x, m), 1e-7)
    np.testing.assert_allclose(grad.sum(axis=1), numeric, rtol=1e-4)


def test_expected_spend(gg):
    population = gg.v * gg.p / (gg.q - 1)
    spend = gg.expected_spend([0, 0, 1, 50, 50], [np.nan, 99.0, 40.0, 40.0, 10.0])
    assert spend[0] == pytest.approx(population) and spend[1] == pytest.approx(population)
    assert population < spend[2] < spend[3] < 40.0  # shrunk towards the population mean, less with more purchases
    assert 10.0 < spend[4] < population
    assert np.isnan(GammaGamma(2.0, 0.5, 10.0).expected_spend(0, 0.0)[()])


# ---- discounted value -------------------------------------------------------------------------------------------
def test_discounted_value(bg_fit, gg, summary):
    m, head = bg_fit.model, summary.head(50)
    x, t_x, T, z = head["x"], head["t_x"], head["T"], head["zbar"]
    undiscounted = discounted_value(m, gg, x, t_x, T, z, horizon=52, discount_rate=0.0)
    np.testing.assert_allclose(undiscounted, m.expected_purchases(52, x, t_x, T) * gg.expected_spend(x, z),
                               rtol=1e-10)
    values = [discounted_value(m, gg, x, t_x, T, z, horizon=52, discount_rate=d) for d in (0.0, 0.001, 0.01, 0.05)]
    for higher, lower in zip(values, values[1:]):
        assert np.all(lower < higher)
    # 13 four-week periods at the four-weekly rate = the same horizon, discounted more coarsely
    coarse = discounted_value(m, gg, x, t_x, T, z, horizon=52, discount_rate=0.04, step=4)
    assert np.all(coarse > 0) and np.all(coarse < undiscounted)
    assert isinstance(undiscounted, np.ndarray) and undiscounted.dtype == np.float64


# ---- bad input --------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("frequency, recency, T, message", [
    ([], [], [], "empty"),
    ([-1], [0.0], [5.0], "frequency must be >= 0"),
    ([1], [-2.0], [5.0], "recency must be >= 0"),
    ([1], [6.0], [5.0], "recency must be <= T"),
    ([2], [0.0], [5.0], "recency must be > 0 when frequency > 0"),
    ([1.5], [2.0], [5.0], "whole numbers"),
    ([1], [np.nan], [5.0], "recency must be finite"),
])
def test_bgnbd_rejects_bad_input(frequency, recency, T, message):
    with pytest.raises(ValueError, match=message):
        BgNbd.fit(frequency, recency, T)


def test_other_bad_input_is_rejected(bg_fit):
    with pytest.raises(ValueError, match="weights"):
        BgNbd.fit([1, 2], [3.0, 4.0], [5.0, 6.0], weights=[1.0, -1.0])
    with pytest.raises(ValueError, match="at least 2 customers with frequency > 0"):
        GammaGamma.fit([0, 0, 3], [0.0, 0.0, 20.0])
    with pytest.raises(ValueError, match="monetary must be finite and > 0"):
        GammaGamma.fit([1, 2, 3], [10.0, 0.0, 20.0])
    with pytest.raises(ValueError, match="BgNbd.alpha must be a positive"):
        BgNbd(0.2, -1.0, 0.8, 2.4)
    with pytest.raises(ValueError, match="recency must be <= T"):
        bg_fit.model.p_alive(1, 10.0, 5.0)
    with pytest.raises(ValueError, match="t must be >= 0"):
        bg_fit.model.expected_purchases(-1.0, 1, 1.0, 5.0)


def test_optimiser_failure_raises_runtime_error(monkeypatch, summary):
    def failing(fun, x0, **kwargs):
        return OptimizeResult(x=np.asarray(x0), fun=1.0, success=False, message="gave up")

    monkeypatch.setattr(btyd, "minimize", failing)
    with pytest.raises(RuntimeError, match="BG/NBD fit did not converge: gave up"):
        BgNbd.fit(summary["x"], summary["t_x"], summary["T"])
