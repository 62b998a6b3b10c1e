"""`crm worklist`: an account manager's worklist for a date, in the terminal, as CSV or as an HTML page.

Reads serving.maintenance_tasks (written by `crm tasks`): the manager's PLANNED tasks in worklist order, and how
many of their tasks rolled over. A worklist is at most tasks.capacity rows, so it is collected to the driver;
exporting every manager's list collects only the PLANNED rows of the date.
"""

from __future__ import annotations

import csv
import html
import textwrap
from dataclasses import dataclass
from datetime import date
from pathlib import Path

from pyspark.sql import SparkSession
from pyspark.sql import functions as F

from jobs.catalog import Catalog
from jobs.errors import CrmError
from jobs.tables import MAINTENANCE_TASKS

COLUMNS = ("worklist_position", "customer_id", "task_type", "family", "due_date", "priority", "suggested_channel",
           "value_tier", "orientation", "is_compliance", "message", "task_id")


@dataclass
class Worklist:
    manager_id: str
    run_date: date
    tasks: list[dict]          # PLANNED rows (COLUMNS), in worklist order
    deferred: int              # the manager's tasks that rolled over to a later day
    suppressed: int

    def text(self, width: int = 110) -> str:
        head = (f"Worklist of {self.manager_id} for {self.run_date}: {len(self.tasks)} task(s)"
                f"; {self.deferred} rolled over, {self.suppressed} suppressed")
        lines = [head, "=" * min(width, len(head))]
        for t in self.tasks:
            flag = " [compliance]" if t["is_compliance"] else ""
            lines.append(f"{t['worklist_position']:>3}. {t['customer_id']}  {t['task_type']}{flag}  due {t['due_date']}"
                         f"  via {t['suggested_channel']}  priority {t['priority']:.2f}  ({t['value_tier']}, "
                         f"{t['orientation']})")
            lines.extend(textwrap.wrap(t["message"] or "", width - 6, initial_indent="     ", subsequent_indent="     "))
        if not self.tasks:
            lines.append("(nothing planned)")
        return "\n".join(lines)

    def write_csv(self, path: Path) -> Path:
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("w", newline="", encoding="utf-8") as f:
            w = csv.DictWriter(f, fieldnames=list(COLUMNS))
            w.writeheader()
            for t in self.tasks:
                w.writerow({k: t[k] for k in COLUMNS})
        return path

    def write_html(self, path: Path) -> Path:
        path.parent.mkdir(parents=True, exist_ok=True)
        e = html.escape
        rows = []
        for t in self.tasks:
            cls = ' class="compliance"' if t["is_compliance"] else ""
            rows.append(f"<tr{cls}><td>{t['worklist_position']}</td><td>{e(t['customer_id'])}</td>"
                        f"<td>{e(t['task_type'])}</td><td>{e(str(t['due_date']))}</td>"
                        f"<td>{e(t['suggested_channel'] or '')}</td><td>{t['priority']:.2f}</td>"
                        f"<td>{e(t['message'] or '')}</td></tr>")
        rows = "\n".join(rows)
        title = f"Worklist of {e(self.manager_id)} for {self.run_date}"
        path.write_text(f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{title}</title>
<style>body{{font-family:sans-serif;margin:2em}}table{{border-collapse:collapse}}
td,th{{border:1px solid #ccc;padding:4px 8px;vertical-align:top}}tr.compliance td{{background:#fff3cd}}</style>
</head><body><h1>{title}</h1>
<p>{len(self.tasks)} task(s); {self.deferred} rolled over to a later day, {self.suppressed} suppressed.
Highlighted rows are compliance tasks.</p>
<table><thead><tr><th>#</th><th>Customer</th><th>Task</th><th>Due</th><th>Channel</th><th>Priority</th>
<th>Message</th></tr></thead><tbody>
{rows}
</tbody></table></body></html>
""", encoding="utf-8")
        return path


def worklists(spark: SparkSession, catalog: Catalog, as_of: date | None = None,
              manager: str | None = None) -> list[Worklist]:
    """The worklists of `as_of` (default: the latest run), of one manager or of all."""
    name = MAINTENANCE_TASKS.name
    as_of = as_of or catalog.latest_date(spark, name, "run_date")
    if as_of is None or not catalog.exists(spark, name):
        raise CrmError("no maintenance tasks yet; run `crm tasks` first")
    day = catalog.read(spark, name).where(F.col("run_date") == F.lit(as_of))
    if manager is not None:
        day = day.where(F.col("manager_id") == manager)
    counts = {(r["manager_id"], r["status"]): r["count"] for r in day.groupBy("manager_id", "status").count().collect()}
    managers = sorted({m for m, _ in counts})
    if not managers:
        raise CrmError(f"no maintenance tasks for {as_of}" + (f" of manager {manager}" if manager else "")
                       + f"; run `crm tasks --date {as_of}` first")
    planned = day.where(F.col("status") == "PLANNED").select("manager_id", *COLUMNS).orderBy(
        "manager_id", "worklist_position").collect()
    by_manager: dict[str, list[dict]] = {m: [] for m in managers}
    for r in planned:
        by_manager[r["manager_id"]].append({k: r[k] for k in COLUMNS})
    return [Worklist(m, as_of, by_manager[m], counts.get((m, "DEFERRED"), 0), counts.get((m, "SUPPRESSED"), 0))
            for m in managers]


def export_all(lists: list[Worklist], folder: Path) -> list[Path]:
    out = []
    for w in lists:
        stem = f"worklist_{w.manager_id}_{w.run_date}"
        out += [w.write_csv(folder / f"{stem}.csv"), w.write_html(folder / f"{stem}.html")]
    return out
