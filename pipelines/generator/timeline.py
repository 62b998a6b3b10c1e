"""Day numbers, timestamps and the extract a record lands in.

Day 0 is start_date; a record that happened on day d lands in the extract of day max(d + delay, bulk_day),
and not at all when that is after the last day (it has not arrived yet).
"""

from __future__ import annotations

from datetime import date

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

from pipelines.generator.params import GeneratorParams
from pipelines.generator.randomness import col_or_lit, sql_col

EPOCH = date(1970, 1, 1)


class Timeline:
    def __init__(self, params: GeneratorParams):
        self.p = params
        self.start_epoch_day = (params.start_date - EPOCH).days

    def date(self, day) -> Column:
        """The calendar date of a day number (which may be negative: before the period)."""
        return F.date_add(F.lit(self.p.start_date), col_or_lit(day).cast("int"))

    def ts(self, day, second_of_day=0) -> Column:
        """A UTC timestamp from a day number and seconds into that day."""
        secs = (F.lit(self.start_epoch_day) + col_or_lit(day).cast("long")) * F.lit(86400) + col_or_lit(second_of_day)
        return F.timestamp_seconds(secs.cast("long"))

    def day_of_ts(self, ts: Column) -> Column:
        return (F.floor(F.unix_timestamp(ts) / 86400) - F.lit(self.start_epoch_day)).cast("int")

    def day_of_date(self, d: Column) -> Column:
        return F.datediff(d, F.lit(self.p.start_date))

    def dow(self, day) -> Column:
        """ISO day of week, 1 = Monday .. 7 = Sunday."""
        return (F.pmod(F.lit(self.start_epoch_day) + col_or_lit(day).cast("long") + F.lit(3), F.lit(7)) + 1).cast("int")

    def extract_day(self, day, delay=0) -> Column:
        return F.greatest(col_or_lit(day) + col_or_lit(delay), F.lit(self.p.bulk_day)).cast("int")

    def lands(self, extract_day: Column) -> Column:
        return extract_day <= F.lit(self.p.last_day)

    def end_of_day_seconds(self) -> Column:
        return F.lit(86399)


def with_later_version(x: DataFrame, resent: Column, first_upd: Column, later_upd: Column, last_day: int) -> DataFrame:
    """Each record once (`v` = 0, updated at `first_upd`, seconds from day 0) and, where `resent`, again as a
    later version (`v` = 1, at `later_upd`). Adds `upd` and `vday` (the day the version exists); versions after
    the last generated day are dropped: they have not been delivered yet."""
    x = x.select("*", F.explode(F.when(resent, F.array(F.lit(0), F.lit(1))).otherwise(F.array(F.lit(0)))).alias("v"))
    upd = F.when(sql_col("v") == 1, later_upd).otherwise(first_upd)
    vday = F.floor(upd / 86400).cast("int")
    return x.select("*", upd.alias("upd"), vday.alias("vday")).where(sql_col("vday") <= last_day)
