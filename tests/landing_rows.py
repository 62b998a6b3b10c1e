"""Valid landing rows per source, for tests that build small extracts inline and then break one value."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

DEFAULTS: dict[str, dict[str, object]] = {
    "customers": dict(
        customer_id="C00000001", customer_type="RETAIL", full_name="Li Wei", id_number="110101199001011234",
        phone="+8613800000001", email="li.wei@example.com", address="1 Chang'an Ave, Beijing",
        birth_date="1990-01-01", gender="M", marital_status="MARRIED", wedding_date="2018-05-20",
        occupation="EMPLOYEE", annual_income="180000.00", city="Beijing", segment="MASS", risk_tolerance="C3",
        kyc_risk_rating="LOW", marketing_consent="true", branch_id="B001", account_manager_id="AM0001",
        firm_id="", onboarding_date="2015-03-01", status="ACTIVE", updated_at="2026-01-01 08:00:00",
    ),
    "products": dict(
        product_id="P0001", product_name="Everyday Current", category="CURRENT", risk_level="R1", min_age="16",
        max_age="120", eligible_segments="MASS|AFFLUENT|PRIVATE|SME", min_investment="0.00", interest_rate="0.2",
        term_months="", launch_date="2010-01-01", status="ACTIVE", updated_at="2026-01-01 00:00:00",
    ),
    "accounts": dict(
        account_id="A0000000001", customer_id="C00000001", product_id="P0001", currency="CNY",
        open_date="2015-03-01", close_date="", maturity_date="", balance="25000.00", credit_limit="",
        interest_rate="0.2", next_due_date="", due_amount="", statement_date="", units="", cost_basis="",
        status="ACTIVE", updated_at="2026-01-01 00:00:00",
    ),
    "transactions": dict(
        txn_id="T000000000001", account_id="A0000000001", customer_id="C00000001", txn_ts="2026-01-01 10:15:00",
        amount="88.50", currency="CNY", direction="DEBIT", txn_type="CARD_PURCHASE", channel="POS",
        merchant_id="M000123", mcc="5411", counterparty_account="", counterparty_bank="", country="CN",
        device_id="", balance_after="24911.50", status="POSTED", updated_at="2026-01-01 10:15:05",
    ),
    "interactions": dict(
        interaction_id="I0000000001", customer_id="C00000001", interaction_ts="2026-01-01 09:00:00",
        channel="PHONE", interaction_type="COMPLAINT", complaint_category="FEES", resolution_status="OPEN",
        resolved_ts=None, satisfaction_score=None, employee_id="E0101", updated_at="2026-01-01 09:00:00",
    ),
}


def row(source: str, **overrides) -> dict[str, object]:
    r = dict(DEFAULTS[source])
    r.update(overrides)
    return r


def write_csv(path: Path, rows: list[dict], columns: list[str] | None = None, *, newline_at_end: bool = True) -> Path:
    columns = columns or list(rows[0].keys())
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(columns)
    for r in rows:
        w.writerow(["" if r.get(c) is None else r.get(c) for c in columns])
    text = buf.getvalue()
    if not newline_at_end:
        text = text.rstrip("\n")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def write_json_lines(path: Path, rows: list[dict | str]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join((r if isinstance(r, str) else json.dumps({k: v for k, v in r.items() if v is not None}))
                            + "\n" for r in rows))
    return path


def extract(landing: Path, source: str, day: str, ext: str = "csv") -> Path:
    return landing / source / f"extract_date={day}" / f"part-00000.{ext}"
