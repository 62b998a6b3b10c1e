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


# Building a draw Column by Column costs a dozen Python->JVM calls (each a round trip, plus the JVM's work);
# the generator builds thousands of draws. So a draw over keys whose SQL text is known (plain columns made
# with `sql_col`, Python ints and strings) is written as SQL text and parsed in one call. The text yields
# the very same expression the Column calls would, so both paths draw the same numbers.
_SQL = "_generator_sql"


def sql_col(name: str) -> Column:
    """F.col(name), remembered as SQL text so draws keyed on it can be built in one JVM call."""
    return with_sql(F.col(name), ".".join(f"`{part}`" for part in name.split(".")))


def with_sql(c: Column, text: str) -> Column:
    setattr(c, _SQL, text)
    return c


def sql_expr(text: str) -> Column:
    return with_sql(F.expr(text), f"({text})")


def sql_of(x) -> str | None:
    """The SQL text of a key or constant, or None when only the Column form is known."""
    if isinstance(x, Column):
        return vars(x).get(_SQL)  # not getattr: a Column answers any attribute with a field access
    if isinstance(x, bool):
        return None
    if isinstance(x, int):
        return str(x)
    if isinstance(x, float):
        return _double(x)
    if isinstance(x, str):
        return "'" + x.replace("\\", "\\\\").replace("'", "\\'") + "'"
    return None


def _double(x: float) -> str:
    return f"CAST({float(x)!r} AS DOUBLE)" if x != x or x in (float("inf"), float("-inf")) else f"{float(x)!r}D"


def _sqls(*xs) -> list[str] | None:
    out = [sql_of(x) for x in xs]
    return None if any(o is None for o in out) else out


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

    def _hash_sql(self, salt: str, keys) -> str | None:
        ks = _sqls(*keys)
        if ks is None:
            return None
        return f"(xxhash64({self.seed}, {sql_of(salt)}{''.join(', ' + k for k in ks)}) & {_MASK})"

    def _u_sql(self, salt: str, keys) -> str | None:
        h = self._hash_sql(salt, keys)
        return None if h is None else f"({h} / {_double(_TWO_63)})"

    def hash(self, salt: str, *keys) -> Column:
        h = self._hash_sql(salt, keys)
        if h is not None:
            return sql_expr(h)
        return F.xxhash64(self._lit(self.seed), self._lit(salt), *[col_or_lit(k) for k in keys]).bitwiseAND(self._lit(_MASK))

    def u(self, salt: str, *keys) -> Column:
        """Uniform in [0, 1)."""
        u = self._u_sql(salt, keys)
        if u is not None:
            return sql_expr(u)
        return self.hash(salt, *keys) / self._lit(_TWO_63)

    def below(self, n, salt: str, *keys) -> Column:
        """Integer uniform in [0, n)."""
        u, ns = self._u_sql(salt, keys), sql_of(n)
        if u is not None and ns is not None:
            return sql_expr(f"CAST(FLOOR({u} * {ns}) AS BIGINT)")
        return F.floor(self.u(salt, *keys) * col_or_lit(n)).cast("long")

    def between(self, lo, hi, salt: str, *keys) -> Column:
        """Integer uniform in [lo, hi] (inclusive)."""
        u, b = self._u_sql(salt, keys), _sqls(lo, hi)
        if u is not None and b is not None:
            return sql_expr(f"CAST(({b[0]} + FLOOR({u} * (({b[1]} - {b[0]}) + 1))) AS BIGINT)")
        return (col_or_lit(lo) + F.floor(self.u(salt, *keys) * (col_or_lit(hi) - col_or_lit(lo) + 1))).cast("long")

    def _normal_sql(self, salt: str, keys) -> str | None:
        u1, u2 = self._u_sql(salt + ":bm1", keys), self._u_sql(salt + ":bm2", keys)
        if u1 is None:
            return None
        return f"(SQRT({_double(-2.0)} * LN(GREATEST({u1}, {_double(1e-12)}))) * COS({_double(2 * math.pi)} * {u2}))"

    def normal(self, salt: str, *keys) -> Column:
        """Standard normal by Box-Muller over two independent uniforms."""
        z = self._normal_sql(salt, keys)
        if z is not None:
            return sql_expr(z)
        u1 = F.greatest(self.u(salt + ":bm1", *keys), F.lit(1e-12))
        u2 = self.u(salt + ":bm2", *keys)
        return F.sqrt(F.lit(-2.0) * F.log(u1)) * F.cos(F.lit(2 * math.pi) * u2)

    def lognormal(self, median, sigma, salt: str, *keys) -> Column:
        z, ms = self._normal_sql(salt, keys), _sqls(median, sigma)
        if z is not None and ms is not None:
            return sql_expr(f"({ms[0]} * EXP({ms[1]} * {z}))")
        return col_or_lit(median) * F.exp(col_or_lit(sigma) * self.normal(salt, *keys))

    def pareto(self, xmin, alpha: float, salt: str, *keys) -> Column:
        u = F.greatest(self.u(salt, *keys), F.lit(1e-12))
        return col_or_lit(xmin) * F.pow(u, F.lit(-1.0 / alpha))

    def choice(self, values: Sequence, salt: str, *keys) -> Column:
        u, vs = self._u_sql(salt, keys), _sqls(*values)
        if u is not None and vs is not None:
            n = len(values)
            return sql_expr(f"element_at(array({', '.join(vs)}), CAST((CAST(FLOOR({u} * {n}) AS BIGINT) + 1) AS INT))")
        arr = F.array(*[F.lit(v) for v in values])
        return F.element_at(arr, (self.below(len(values), salt, *keys) + 1).cast("int"))

    def weighted(self, options: Sequence[tuple[object, float]], salt: str, *keys) -> Column:
        return pick_weighted(self.u(salt, *keys), options)

    def bernoulli(self, p, salt: str, *keys) -> Column:
        u, ps = self._u_sql(salt, keys), sql_of(p)
        if u is not None and ps is not None:
            return sql_expr(f"({u} < {ps})")
        return self.u(salt, *keys) < col_or_lit(p)


def pick_weighted(u: Column, options: Sequence[tuple[object, float]]) -> Column:
    """A categorical draw from a uniform: CASE WHEN u < w1 THEN v1 WHEN u < w1 + w2 THEN v2 ... END."""
    total = float(sum(w for _, w in options))
    us, vs = sql_of(u), _sqls(*[v for v, _ in options])
    if us is not None and vs is not None:
        if len(options) == 1:
            return sql_expr(vs[0])
        acc, branches = 0.0, []
        for v, (_, w) in zip(vs[:-1], options[:-1]):
            acc += w / total
            branches.append(f"WHEN ({us} < {_double(acc)}) THEN {v}")
        return sql_expr(f"CASE {' '.join(branches)} ELSE {vs[-1]} END")
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


def money(x: Column) -> Column:
    """A double amount rounded half up to cents, as decimal(18,2).

    `F.round` on a double goes through BigDecimal(Double.toString(x)) and so does a cast to decimal; on the
    generator's transactions the two cost a fifth of building each row. Here the rounding is arithmetic on the
    double and the decimal is made from whole cents.
    """
    cents = F.floor(x * 100 + 0.5).cast("decimal(18,0)")
    return (cents * F.lit(0.01).cast("decimal(2,2)")).cast("decimal(18,2)")


def round_hundreds(x: Column) -> Column:
    """A double rounded half up to a multiple of 100, still a double (see `money`)."""
    return F.floor(x / 100 + 0.5) * 100
