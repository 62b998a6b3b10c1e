"""Everything every domain module needs: the parameters, the calendar, the draws and who plays which role."""

from __future__ import annotations

from dataclasses import dataclass, field

from pyspark.sql import Column
from pyspark.sql import functions as F

from pipelines.contracts.core_banking import PRODUCT_CATEGORIES
from pipelines.generator.params import GeneratorParams
from pipelines.generator.randomness import Bijection, Draws, padded_id
from pipelines.generator.timeline import Timeline

FRAUD_TYPES = ("ACCOUNT_TAKEOVER", "CARD_TESTING", "COMPROMISED_MERCHANT")
AML_TYPOLOGIES = ("STRUCTURING", "FAN_IN", "FAN_OUT", "ROUND_TRIPPING", "PASS_THROUGH", "DORMANT_REACTIVATION")
CM_VICTIMS = 3          # customers of each compromised merchant who are later defrauded
RT_MEMBERS = 4          # slots reserved per round-tripping case: the origin and up to three intermediaries
ACCOUNT_SLOTS = {cat: i for i, cat in enumerate(PRODUCT_CATEGORIES)}


@dataclass(frozen=True)
class RoleRange:
    role: str
    start: int
    cases: int
    members: int

    @property
    def end(self) -> int:
        return self.start + self.cases * self.members


@dataclass
class Context:
    p: GeneratorParams
    t: Timeline = field(init=False)
    d: Draws = field(init=False)
    sme: Bijection = field(init=False)
    roles: Bijection = field(init=False)
    role_ranges: list[RoleRange] = field(init=False)

    def __post_init__(self) -> None:
        p = self.p
        self.t = Timeline(p)
        self.d = Draws(p.seed)
        self.sme = Bijection(p.customers, p.seed, 1)
        self.roles = Bijection(p.customers, p.seed, 2)
        nf, na = p.episodes_per_type, p.cases_per_typology
        layout = [(t, nf, CM_VICTIMS if t == "COMPROMISED_MERCHANT" else 1) for t in FRAUD_TYPES]
        layout += [(t, na, RT_MEMBERS if t == "ROUND_TRIPPING" else 1) for t in AML_TYPOLOGIES]
        layout += [("AML_FALSE_ALARM", 2 * na, 1)]
        ranges, start = [], 0
        for role, cases, members in layout:
            ranges.append(RoleRange(role, start, cases, members))
            start += cases * members
        if start > p.customers // 2:
            raise ValueError(f"{p.customers} customers are too few for the requested fraud and AML cases")
        self.role_ranges = ranges

    @property
    def n_sme(self) -> int:
        return int(round(self.p.customers * self.p.sme_share))

    @property
    def new_product_day(self) -> int:
        return self.p.bulk_day + max(1, self.p.daily_days // 3) if self.p.daily_days else self.p.last_day

    def role_range(self, role: str) -> RoleRange:
        return next(r for r in self.role_ranges if r.role == role)

    def role_of(self, rank: Column) -> Column:
        expr = None
        for r in self.role_ranges:
            cond = (rank >= r.start) & (rank < r.end)
            expr = F.when(cond, F.lit(r.role)) if expr is None else expr.when(cond, F.lit(r.role))
        return expr

    def role_start_of(self, rank: Column) -> Column:
        expr = None
        for r in self.role_ranges:
            cond = (rank >= r.start) & (rank < r.end)
            expr = F.when(cond, F.lit(r.start)) if expr is None else expr.when(cond, F.lit(r.start))
        return expr

    def member_idx(self, role: str, case: Column, member) -> Column:
        """Customer index of member `member` of case `case` of a role."""
        r = self.role_range(role)
        return self.roles.index(F.lit(r.start) + case * F.lit(r.members) + member)


def customer_id(idx: Column) -> Column:
    return padded_id("C", idx + 1, 8)


def account_id(idx: Column, category: str | Column) -> Column:
    if isinstance(category, str):
        slot = F.lit(ACCOUNT_SLOTS[category])
    else:
        slot = F.element_at(F.create_map(*[x for k, v in ACCOUNT_SLOTS.items() for x in (F.lit(k), F.lit(v))]), category)
    return padded_id("A", idx.cast("long") * 16 + slot, 10)


def firm_id_of_customer(idx: Column) -> Column:
    return padded_id("F", idx + 1, 8)
