"""Deterministic draws: every random number is a keyed hash of (seed, purpose, row identity).

So a seed reproduces the same bank on any number of partitions or executors; `F.rand` would not.
"""

from __future__ import annotations

import math
from typing import Sequence

from pyspark.sql import Column
from pyspark.sql import functions as F

_MASK = 0x7FFFFFFFFFFFFFFF
_TWO_63 = float(2**63)
ID_SPACE = 10**12
_ID_MULT = 999_983  # prime, coprime with 10, so x -> x * m + c (mod 10^12) is a bijection


def col_or_lit(x) -> Column:
    return x if isinstance(x, Column) else F.lit(x)


class Draws:
    """Uniform, normal, heavy-tailed and categorical draws keyed by a seed, a salt and identity columns."""

    def __init__(self, seed: int):
        self.seed = seed
        self._consts: dict = {}

    def _lit(self, value) -> Column:
        # Column objects are immutable, so constants are built once (each costs a JVM round trip)
        key = (type(value), value)
        if key not in self._consts:
            self._consts[key] = F.lit(value)
        return self._consts[key]

    def hash(self, salt: str, *keys) -> Column:
        return F.xxhash64(self._lit(self.seed), self._lit(salt), *[col_or_lit(k) for k in keys]).bitwiseAND(self._lit(_MASK))

    def u(self, salt: str, *keys) -> Column:
        """Uniform in [0, 1)."""
        return self.hash(salt, *keys) / self._lit(_TWO_63)

    def below(self, n, salt: str, *keys) -> Column:
        """Integer uniform in [0, n)."""
        return F.floor(self.u(salt, *keys) * col_or_lit(n)).cast("long")

    def between(self, lo, hi, salt: str, *keys) -> Column:
        """Integer uniform in [lo, hi] (inclusive)."""
        return (col_or_lit(lo) + F.floor(self.u(salt, *keys) * (col_or_lit(hi) - col_or_lit(lo) + 1))).cast("long")

    def normal(self, salt: str, *keys) -> Column:
        """Standard normal by Box-Muller over two independent uniforms."""
        u1 = F.greatest(self.u(salt + ":bm1", *keys), F.lit(1e-12))
        u2 = self.u(salt + ":bm2", *keys)
        return F.sqrt(F.lit(-2.0) * F.log(u1)) * F.cos(F.lit(2 * math.pi) * u2)

    def lognormal(self, median, sigma, salt: str, *keys) -> Column:
        return col_or_lit(median) * F.exp(col_or_lit(sigma) * self.normal(salt, *keys))

    def pareto(self, xmin, alpha: float, salt: str, *keys) -> Column:
        u = F.greatest(self.u(salt, *keys), F.lit(1e-12))
        return col_or_lit(xmin) * F.pow(u, F.lit(-1.0 / alpha))

    def choice(self, values: Sequence, salt: str, *keys) -> Column:
        arr = F.array(*[F.lit(v) for v in values])
        return F.element_at(arr, (self.below(len(values), salt, *keys) + 1).cast("int"))

    def weighted(self, options: Sequence[tuple[object, float]], salt: str, *keys) -> Column:
        return pick_weighted(self.u(salt, *keys), options)

    def bernoulli(self, p, salt: str, *keys) -> Column:
        return self.u(salt, *keys) < col_or_lit(p)


def pick_weighted(u: Column, options: Sequence[tuple[object, float]]) -> Column:
    """A categorical draw from a uniform: CASE WHEN u < w1 THEN v1 WHEN u < w1 + w2 THEN v2 ... END."""
    total = float(sum(w for _, w in options))
    acc = 0.0
    expr = None
    for value, w in options[:-1]:
        acc += w / total
        expr = (F.when(u < acc, F.lit(value)) if expr is None else expr.when(u < acc, F.lit(value)))
    last = F.lit(options[-1][0])
    return last if expr is None else expr.otherwise(last)


def pick_from(values: Column, u: Column) -> Column:
    """An element of an array column chosen by a uniform; null when the array is empty."""
    n = F.size(values)
    return F.when(n > 0, F.element_at(values, (F.floor(u * n) + 1).cast("int")))


class Bijection:
    """A keyed shuffle of 0..n-1 (x -> x * p + c mod n) and its inverse, to give roles to customers.

    Ranks 0..k-1 of the shuffle are a random-looking set of k customers, found without a sort.
    """

    _PRIMES = (998_244_353, 1_000_000_007, 1_000_000_009, 2_147_483_647)

    def __init__(self, n: int, seed: int, salt: int):
        self.n = n
        p = next(q for q in self._PRIMES[salt % len(self._PRIMES):] + self._PRIMES if n % q != 0)
        self.mult = p % n if n > 1 else 0
        self.offset = (seed * 7919 + salt * 104_729) % n if n > 1 else 0
        self.inverse_mult = pow(self.mult, -1, n) if n > 1 else 0

    def rank(self, idx: Column) -> Column:
        return F.pmod(idx.cast("long") * F.lit(self.mult) + F.lit(self.offset), F.lit(self.n))

    def index(self, rank) -> Column:
        r = col_or_lit(rank).cast("long")
        return F.pmod((r - F.lit(self.offset)) * F.lit(self.inverse_mult), F.lit(self.n))

    def index_py(self, rank: int) -> int:
        return ((rank - self.offset) * self.inverse_mult) % self.n


def scrambled_id(prefix: str, number: Column, width: int = 12) -> Column:
    """`prefix` + `width` digits: a bijective scramble of a structured number, so ids leak no structure."""
    space = 10**width
    mult = _ID_MULT if width >= 7 else 7
    x = F.pmod(number.cast("long") * F.lit(mult) + F.lit(space // 3 + 17), F.lit(space))
    return F.concat(F.lit(prefix), F.lpad(x.cast("string"), width, "0"))


def padded_id(prefix: str, number: Column, width: int) -> Column:
    return F.concat(F.lit(prefix), F.lpad(number.cast("long").cast("string"), width, "0"))
