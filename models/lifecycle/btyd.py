"""Buy-till-you-die models for customer lifetime value, in plain numpy + scipy (no Spark, no MLflow).

Each customer is summarised by x = `frequency` (number of repeat purchases), t_x = `recency` (time of the last
repeat purchase, measured from the first purchase), T (time from the first purchase to the end of the
calibration period) and, for the spend model, m = `monetary` (mean value of the repeat purchases). All times are
in one unit (days, weeks, ...) chosen by the caller; the parameters are then in that unit too.

* BG/NBD (Fader, Hardie & Lee 2005, "Counting Your Customers the Easy Way", Marketing Science 24(2)): while
  alive a customer buys as a Poisson process with rate lambda ~ Gamma(r, alpha); after each purchase they drop out
  with probability p ~ Beta(a, b). Gives the likelihood (eq. 6), E[X(t)] for a new customer (eq. 7), the
  conditional expectation E[X(T, T+t) | x, t_x, T] (eq. 10) and P(alive | x, t_x, T).
* Gamma-Gamma (Fader & Hardie 2013, "The Gamma-Gamma Model of Monetary Value"; Fader, Hardie & Lee 2005, "RFM
  and CLV", J. Marketing Research 42(4)): transaction values ~ Gamma(p, nu) with nu ~ Gamma(q, v) across
  customers, independent of the purchase process. Gives E[M | x, m].
* `discounted_value` combines the two: expected spend over the next `horizon` time units, discounted.

Every function is vectorised over numpy arrays (pandas Series are accepted) so it can score a 100k-customer batch
inside a pandas UDF. Fitting is maximum likelihood over log-parameters with an analytic gradient (L-BFGS-B, then
a Nelder-Mead polish if L-BFGS-B stops short); duplicate summary rows are collapsed into weights first.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any, Callable, Generic, TypeVar

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy.optimize import minimize
from scipy.special import betaln, expit, gammaln, hyp2f1, psi

__all__ = ["BgNbd", "Fit", "GammaGamma", "discounted_value"]

Floats = NDArray[np.float64]
M = TypeVar("M")

log = logging.getLogger(__name__)

_LOG_BOUND = 15.0  # parameters are searched in [e^-15, e^15]: wide enough for any time unit, no overflow


@dataclass(frozen=True)
class Fit(Generic[M]):
    """A fitted model with its maximised log-likelihood and the number of customers it was fitted on."""

    model: M
    log_likelihood: float
    n: float


def _floats(*arrays: ArrayLike) -> list[Floats]:
    """The inputs as float arrays broadcast to one shape (pandas Series lose their index)."""
    return list(np.broadcast_arrays(*(np.asarray(a, dtype=np.float64) for a in arrays)))


def _check_summary(x: Floats, t_x: Floats, T: Floats, *, strict: bool) -> None:
    """ValueError unless (frequency, recency, T) is a valid BTYD summary; `strict` (fitting) also rejects NaN."""
    if strict:
        if x.size == 0:
            raise ValueError("no customers: frequency, recency and T are empty")
        for name, v in (("frequency", x), ("recency", t_x), ("T", T)):
            if not np.all(np.isfinite(v)):
                raise ValueError(f"{name} must be finite (no NaN or inf)")
        if np.any(x != np.round(x)):
            raise ValueError("frequency must be whole numbers (count of repeat purchases)")
    for name, v in (("frequency", x), ("recency", t_x), ("T", T)):
        if np.any(v < 0):
            raise ValueError(f"{name} must be >= 0")
    if np.any(t_x > T):
        raise ValueError("recency must be <= T (the last purchase cannot be after the end of the period)")
    if np.any((x > 0) & (t_x == 0)):
        raise ValueError("recency must be > 0 when frequency > 0 (a repeat purchase happens after the first)")


def _weights(weights: ArrayLike | None, shape: tuple[int, ...]) -> Floats:
    """Per-row customer counts (all ones by default); ValueError unless finite, >= 0 and not all zero."""
    if weights is None:
        return np.ones(shape)
    w = np.asarray(weights, dtype=np.float64)
    if w.shape != shape:
        raise ValueError(f"weights has shape {w.shape}, expected {shape}")
    if not np.all(np.isfinite(w)) or np.any(w < 0):
        raise ValueError("weights must be finite and >= 0")
    if w.sum() <= 0:
        raise ValueError("weights sum to 0: no customers to fit")
    return w


def _compress(columns: list[Floats], w: Floats) -> tuple[list[Floats], Floats]:
    """Collapse identical rows into one with the summed weight (fitting cost then scales with distinct rows)."""
    keep = w > 0
    stacked = np.column_stack([c[keep] for c in columns])
    unique, inverse = np.unique(stacked, axis=0, return_inverse=True)
    return [unique[:, j] for j in range(unique.shape[1])], np.bincount(inverse.ravel(), weights=w[keep])


def _maximise(objective: Callable[[Floats], tuple[float, Floats]], start: Floats, what: str,
              limit_ok: Callable[[Floats], bool] | None = None) -> Floats:
    """Minimise a (value, gradient) objective over log-parameters; RuntimeError if neither optimiser converges,
    or if it runs to a bound, unless `limit_ok(theta)` says that bound is a well-defined limit of the model."""
    bounds = [(-_LOG_BOUND, _LOG_BOUND)] * start.size
    start = np.clip(start, -_LOG_BOUND + 1, _LOG_BOUND - 1)
    res = minimize(objective, start, jac=True, method="L-BFGS-B", bounds=bounds,
                   options={"maxiter": 2000, "ftol": 1e-13, "gtol": 1e-9})
    if not res.success or not np.isfinite(res.fun):
        x0 = res.x if np.isfinite(res.fun) else start
        res = minimize(lambda z: objective(z)[0], x0, method="Nelder-Mead", bounds=bounds,
                       options={"maxfev": 4000, "xatol": 1e-10, "fatol": 1e-13})
    if not res.success or not np.isfinite(res.fun):
        raise RuntimeError(f"{what} fit did not converge: {res.message}")
    at_bound = np.abs(res.x) >= _LOG_BOUND - 1e-6
    if np.any(at_bound) and limit_ok is not None and limit_ok(res.x):
        log.warning("%s fit ran to a parameter bound at a well-defined limit of the model; estimates %s",
                    what, np.exp(res.x))
    elif np.any(at_bound):
        raise RuntimeError(f"{what} fit ran to a parameter bound (exp(+-{_LOG_BOUND:g})): the data do not identify "
                           f"the model; estimates {np.exp(res.x)}")
    return res.x


def _fit(cls: type[M], terms: Callable[[Any, bool], tuple[Floats, Floats | None]], start: Floats, w: Floats,
         n: float, what: str, limit_ok: Callable[[Floats], bool] | None = None) -> Fit[M]:
    """Maximum likelihood of `cls` over its log-parameters from `start`: `terms(model, grad)` gives each summary
    row's log-likelihood (and, with grad, its gradient in the log-parameters); rows are weighted by `w`."""
    def objective(theta: Floats) -> tuple[float, Floats]:
        ll, g = terms(cls(*np.exp(theta)), True)
        value = -float(w @ ll) / n
        if not np.isfinite(value):
            return 1e100, np.zeros(len(theta))
        return value, -(g @ w) / n

    theta = _maximise(objective, start, what, limit_ok)
    model = cls(*(float(v) for v in np.exp(theta)))
    return Fit(model, float(w @ terms(model, False)[0]), n)


def _spend_without_noise(theta: Floats) -> bool:
    """Gamma-Gamma with p at its upper bound (and v at its lower one, p x v finite): the purchases show no spend
    variation beyond each customer's own mean, as in a small or very regular book. The limit is well defined:
    each customer's expected spend is their own mean, shrunk toward the population's by q alone."""
    log_p, log_q, log_v = theta
    hi, lo = log_p >= _LOG_BOUND - 1e-6, log_v <= -_LOG_BOUND + 1e-6
    q_inside = abs(log_q) < _LOG_BOUND - 1e-6
    return bool(q_inside and hi and (lo or abs(log_v) < _LOG_BOUND - 1e-6))


@dataclass(frozen=True)
class BgNbd:
    """BG/NBD model: purchase rate ~ Gamma(shape r, rate alpha), drop-out probability ~ Beta(a, b)."""

    r: float
    alpha: float
    a: float
    b: float

    def __post_init__(self) -> None:
        for name in ("r", "alpha", "a", "b"):
            v = getattr(self, name)
            if not (np.isfinite(v) and v > 0):
                raise ValueError(f"BgNbd.{name} must be a positive finite number, got {v!r}")

    # ---- likelihood -------------------------------------------------------------------------------------------
    def _loglik_terms(self, x: Floats, t_x: Floats, T: Floats, grad: bool) -> tuple[Floats, Floats | None]:
        """Per-customer log-likelihood (eq. 6) and, if asked, its gradient w.r.t. (log r, log alpha, log a, log b)."""
        r, alpha, a, b = self.r, self.alpha, self.a, self.b
        repeat = x > 0
        xs = np.where(repeat, x, 1.0)  # keeps b + x - 1 > 0 in the masked-out second term
        common = gammaln(r + x) - gammaln(r) + r * np.log(alpha) - betaln(a, b)
        t1 = betaln(a, b + x) - (r + x) * np.log(alpha + T)
        t2 = np.where(repeat, betaln(a + 1, b + xs - 1) - (r + x) * np.log(alpha + t_x), -np.inf)
        mix = np.logaddexp(t1, t2)
        ll = common + mix
        if not grad:
            return ll, None
        w1 = np.exp(t1 - mix)
        w2 = 1.0 - w1
        d_abx = psi(a + b + x)
        d_r = psi(r + x) - psi(r) + np.log(alpha) - w1 * np.log(alpha + T) - w2 * np.log(alpha + t_x)
        d_alpha = r / alpha - (r + x) * (w1 / (alpha + T) + w2 / (alpha + t_x))
        d_a = w1 * psi(a) + w2 * psi(a + 1) - d_abx - psi(a) + psi(a + b)
        d_b = w1 * psi(b + x) + w2 * psi(b + xs - 1) - d_abx - psi(b) + psi(a + b)
        return ll, np.stack([d_r * r, d_alpha * alpha, d_a * a, d_b * b])

    def log_likelihood(self, frequency: ArrayLike, recency: ArrayLike, T: ArrayLike,
                       weights: ArrayLike | None = None) -> float:
        """Total log-likelihood (FHL 2005 eq. 6); `weights` = number of customers sharing each (x, t_x, T)."""
        x, t_x, T_ = _floats(frequency, recency, T)
        _check_summary(x, t_x, T_, strict=True)
        w = _weights(weights, x.shape)
        ll, _ = self._loglik_terms(x, t_x, T_, grad=False)
        return float(np.sum(w * ll))

    @classmethod
    def fit_with_ll(cls, frequency: ArrayLike, recency: ArrayLike, T: ArrayLike, weights: ArrayLike | None = None,
                    initial: tuple[float, float, float, float] | None = None) -> Fit[BgNbd]:
        """Maximum-likelihood fit, returned with its log-likelihood and customer count.

        `initial` = (r, alpha, a, b) to start from; by default r = a = b = 1 and alpha = mean(T) / mean(x)
        (so that r / alpha, the mean purchase rate, starts at the observed one whatever the time unit).
        """
        x, t_x, T_ = _floats(frequency, recency, T)
        x, t_x, T_ = x.ravel(), t_x.ravel(), T_.ravel()
        _check_summary(x, t_x, T_, strict=True)
        w = _weights(None if weights is None else np.ravel(weights), x.shape)
        (x, t_x, T_), w = _compress([x, t_x, T_], w)
        n = float(w.sum())
        if initial is None:
            mean_x, mean_T = np.average(x, weights=w), np.average(T_, weights=w)
            initial = (1.0, max(mean_T, 1e-6) / max(mean_x, 1e-3), 1.0, 1.0)
        start = np.log(np.asarray(initial, dtype=np.float64))
        if start.shape != (4,) or not np.all(np.isfinite(start)):
            raise ValueError("initial must be four positive numbers (r, alpha, a, b)")

        return _fit(cls, lambda model, grad: model._loglik_terms(x, t_x, T_, grad), start, w, n, "BG/NBD")

    @classmethod
    def fit(cls, frequency: ArrayLike, recency: ArrayLike, T: ArrayLike, weights: ArrayLike | None = None,
            initial: tuple[float, float, float, float] | None = None) -> BgNbd:
        """Maximum-likelihood fit (see `fit_with_ll`, which also returns the log-likelihood)."""
        return cls.fit_with_ll(frequency, recency, T, weights, initial).model

    # ---- predictions ------------------------------------------------------------------------------------------
    def p_alive(self, frequency: ArrayLike, recency: ArrayLike, T: ArrayLike) -> Floats:
        """P(alive at T | x, t_x, T) = 1 / (1 + [x > 0] a / (b + x - 1) ((alpha + T) / (alpha + t_x))^(r + x))."""
        x, t_x, T_ = _floats(frequency, recency, T)
        _check_summary(x, t_x, T_, strict=False)
        repeat = x > 0
        xs = np.where(repeat, x, 1.0)
        log_odds_dead = (np.log(self.a) - np.log(self.b + xs - 1)
                         + (self.r + xs) * np.log1p((T_ - t_x) / (self.alpha + t_x)))
        return np.where(repeat, expit(-log_odds_dead), np.where(x == 0, 1.0, np.nan))  # NaN frequency stays NaN

    def expected_purchases(self, t: ArrayLike, frequency: ArrayLike, recency: ArrayLike, T: ArrayLike) -> Floats:
        """E[X(T, T + t) | x, t_x, T]: expected purchases in the next t time units (FHL 2005 eq. 10).

        Eq. 10's ((alpha+T)/(alpha+T+t))^(r+x) 2F1(r+x, b+x; a+b+x-1; z) over- and underflows for large x; by
        Euler's transformation it equals (1-z)^(a-1) 2F1(a+b-1-r, a-1; a+b+x-1; z), z = t / (alpha+T+t), whose
        first two parameters do not grow with x, so it stays finite and accurate for any frequency.
        Undefined (NaN) at exactly a = 1.
        """
        t_, x, t_x, T_ = _floats(t, frequency, recency, T)
        if np.any(t_ < 0):
            raise ValueError("t must be >= 0")
        return self._purchases_if_alive(t_, x, T_) * self.p_alive(x, t_x, T_)

    def _purchases_if_alive(self, t: Floats | float, x: Floats, T: Floats) -> Floats:
        """E[X(T, T + t) | x, t_x, T] / P(alive | x, t_x, T), which does not depend on t_x."""
        r, alpha, a, b = self.r, self.alpha, self.a, self.b
        z = t / (alpha + T + t)
        c = a + b + x - 1
        return c / (a - 1) * (1 - (1 - z) ** (a - 1) * hyp2f1(a + b - 1 - r, a - 1, c, z))

    def expected_purchases_new(self, t: ArrayLike) -> Floats:
        """E[X(t)]: expected purchases in (0, t] of a customer just acquired at 0 (FHL 2005 eq. 7)."""
        t_ = np.asarray(t, dtype=np.float64)
        if np.any(t_ < 0):
            raise ValueError("t must be >= 0")
        r, alpha, a, b = self.r, self.alpha, self.a, self.b
        hyp = (alpha / (alpha + t_)) ** r * hyp2f1(r, b, a + b - 1, t_ / (alpha + t_))
        return np.asarray((a + b - 1) / (a - 1) * (1 - hyp), dtype=np.float64)


@dataclass(frozen=True)
class GammaGamma:
    """Gamma-Gamma spend model: transaction value ~ Gamma(shape p, rate nu), nu ~ Gamma(shape q, rate v)."""

    p: float
    q: float
    v: float

    def __post_init__(self) -> None:
        for name in ("p", "q", "v"):
            val = getattr(self, name)
            if not (np.isfinite(val) and val > 0):
                raise ValueError(f"GammaGamma.{name} must be a positive finite number, got {val!r}")

    @staticmethod
    def _repeaters(frequency: ArrayLike, monetary: ArrayLike,
                   weights: ArrayLike | None) -> tuple[Floats, Floats, Floats]:
        """(x, m, w) of the customers with x > 0, validated; customers with x == 0 carry no spend information."""
        x, m = (v.ravel() for v in _floats(frequency, monetary))
        if x.size == 0:
            raise ValueError("no customers: frequency and monetary are empty")
        w = _weights(None if weights is None else np.ravel(weights), x.shape)
        if not np.all(np.isfinite(x)) or np.any(x < 0) or np.any(x != np.round(x)):
            raise ValueError("frequency must be finite whole numbers >= 0")
        keep = (x > 0) & (w > 0)
        if not np.all(np.isfinite(m[keep])) or np.any(m[keep] <= 0):
            raise ValueError("monetary must be finite and > 0 for customers with frequency > 0")
        return x[keep], m[keep], w[keep]

    def _loglik_terms(self, x: Floats, m: Floats, grad: bool) -> tuple[Floats, Floats | None]:
        """Per-customer log density of the mean spend m over x purchases, and its gradient in log-parameters."""
        p, q, v = self.p, self.q, self.v
        px = p * x
        log_vxm = np.log(v + x * m)
        ll = (gammaln(px + q) - gammaln(px) - gammaln(q) + q * np.log(v)
              + (px - 1) * np.log(m) + px * np.log(x) - (px + q) * log_vxm)
        if not grad:
            return ll, None
        d_p = x * (psi(px + q) - psi(px) + np.log(m) + np.log(x) - log_vxm)
        d_q = psi(px + q) - psi(q) + np.log(v) - log_vxm
        d_v = q / v - (px + q) / (v + x * m)
        return ll, np.stack([d_p * p, d_q * q, d_v * v])

    def log_likelihood(self, frequency: ArrayLike, monetary: ArrayLike, weights: ArrayLike | None = None) -> float:
        """Total log-likelihood over the customers with frequency > 0 (monetary = their mean repeat spend)."""
        x, m, w = self._repeaters(frequency, monetary, weights)
        return float(w @ self._loglik_terms(x, m, grad=False)[0])

    @classmethod
    def fit_with_ll(cls, frequency: ArrayLike, monetary: ArrayLike, weights: ArrayLike | None = None,
                    initial: tuple[float, float, float] | None = None) -> Fit[GammaGamma]:
        """Maximum-likelihood fit on the repeat customers, with its log-likelihood and their count.

        `initial` = (p, q, v); by default p = 1, q = 2 and v = mean(m) so the population mean starts at the data's.
        """
        x, m, w = cls._repeaters(frequency, monetary, weights)
        n = float(w.sum())
        if n < 2:
            raise ValueError(f"need at least 2 customers with frequency > 0 to fit Gamma-Gamma, got {n:g}")
        (x, m), w = _compress([x, m], w)
        if initial is None:
            initial = (1.0, 2.0, float(np.average(m, weights=w)))
        start = np.log(np.asarray(initial, dtype=np.float64))
        if start.shape != (3,) or not np.all(np.isfinite(start)):
            raise ValueError("initial must be three positive numbers (p, q, v)")

        return _fit(cls, lambda model, grad: model._loglik_terms(x, m, grad), start, w, n, "Gamma-Gamma",
                    _spend_without_noise)

    @classmethod
    def fit(cls, frequency: ArrayLike, monetary: ArrayLike, weights: ArrayLike | None = None,
            initial: tuple[float, float, float] | None = None) -> GammaGamma:
        """Maximum-likelihood fit (see `fit_with_ll`, which also returns the log-likelihood)."""
        return cls.fit_with_ll(frequency, monetary, weights, initial).model

    def expected_spend(self, frequency: ArrayLike, monetary: ArrayLike) -> Floats:
        """E[M | x, m] = (v p + p x m) / (p x + q - 1): a weighted mean of the population mean v p / (q - 1) and m.

        For x = 0 it is the population mean (m is ignored, so it may be NaN); NaN where p x + q - 1 <= 0, i.e. for
        x = 0 when q <= 1 (the population mean is infinite).
        """
        x, m = _floats(frequency, monetary)
        if np.any(x < 0):
            raise ValueError("frequency must be >= 0")
        p, q, v = self.p, self.q, self.v
        px = p * x
        denom = px + q - 1
        spend = (v * p + px * np.where(x > 0, m, 0.0)) / np.where(denom > 0, denom, np.nan)
        return np.asarray(spend, dtype=np.float64)


def discounted_value(bgnbd: BgNbd, gg: GammaGamma, frequency: ArrayLike, recency: ArrayLike, T: ArrayLike,
                     monetary: ArrayLike, horizon: float, discount_rate: float, step: float = 1) -> Floats:
    """Present value of each customer's expected spend over the next `horizon` time units.

    sum_k (E[X(T, T + t_k)] - E[X(T, T + t_(k-1))]) E[M | x, m] / (1 + discount_rate)^k with t_k = min(k step,
    horizon), k = 1 .. ceil(horizon / step): purchases expected in each period of `step` time units, discounted at
    `discount_rate` per period (with step = 1, per time unit of frequency/recency/T).
    """
    if not (np.isfinite(horizon) and horizon >= 0):
        raise ValueError("horizon must be finite and >= 0")
    if not (np.isfinite(step) and step > 0):
        raise ValueError("step must be finite and > 0")
    if not (np.isfinite(discount_rate) and discount_rate > -1):
        raise ValueError("discount_rate must be finite and > -1")
    x, t_x, T_, m = _floats(frequency, recency, T, monetary)
    spend = gg.expected_spend(x, m)
    alive = bgnbd.p_alive(x, t_x, T_)
    total = np.zeros_like(x)
    previous = np.zeros_like(x)
    for k in range(1, int(np.ceil(horizon / step - 1e-9)) + 1):
        current = bgnbd._purchases_if_alive(min(k * step, horizon), x, T_)
        total += (current - previous) / (1 + discount_rate) ** k
        previous = current
    return total * alive * spend
