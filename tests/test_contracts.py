"""Source contracts are consistent, and docs/sources.md is generated from them and current."""

from jobs.docs import FEATURES_DOC, SOURCES_DOC, features_markdown, sources_markdown
from pipelines.contracts import CONTRACTS, dependency_order
from pipelines.ingest.batch_checks import row_count_problems, schema_problems


def test_every_design_source_has_a_contract():
    assert set(CONTRACTS) == {
        "customers", "products", "accounts", "transactions", "nav_prices", "interactions", "campaign_responses",
        "ecommerce_orders", "ecommerce_events", "firms", "invoices", "fraud_labels", "aml_cases",
    }


def test_foreign_keys_point_at_real_columns_and_parents_come_first():
    order = dependency_order()
    for c in CONTRACTS.values():
        for col in c.foreign_keys:
            parent, parent_col = col.references.split(".")
            assert parent_col in CONTRACTS[parent].column_names
            assert order.index(parent) < order.index(c.name)


def test_direct_identifiers_are_marked_pii():
    pii = {(c.name, col.name) for c in CONTRACTS.values() for col in c.pii_columns}
    assert {("customers", "full_name"), ("customers", "id_number"), ("customers", "phone"),
            ("customers", "email"), ("ecommerce_orders", "phone"), ("ecommerce_events", "email")} <= pii


def test_docs_are_current():
    assert SOURCES_DOC.read_text() == sources_markdown(), "docs/sources.md is stale: run `crm docs`"
    assert FEATURES_DOC.read_text() == features_markdown(), "docs/features.md is stale: run `crm docs`"


def test_schema_drift_spots_a_renamed_column():
    c = CONTRACTS["ecommerce_events"]
    cols = [("item_category" if n == "category" else n) for n in c.column_names]
    [problem] = schema_problems(c, "f.json", cols)
    assert problem.rule == "schema_drift"
    assert "missing category" in problem.message and "unexpected item_category" in problem.message


def test_row_count_collapse_against_recent_median():
    from datetime import date

    history = [1000, 1100, 950, 1020]
    assert row_count_problems({date(2026, 1, 5): 900}, history, ratio=0.2, window=7) == []
    [p] = row_count_problems({date(2026, 1, 5): 150}, history, ratio=0.2, window=7)
    assert p.rule == "row_count_collapse" and "150 rows" in p.message
    # Too little history: no verdict rather than a false alarm.
    assert row_count_problems({date(2026, 1, 5): 1}, [1000, 1000], ratio=0.2, window=7) == []


def test_a_business_key_cannot_be_a_pii_column():
    import pytest

    from pipelines.contracts.model import Column, SourceContract
    with pytest.raises(ValueError, match="key column email cannot be a PII column"):
        SourceContract("leads", "marketing", "1", "csv", "Leads.", key=("email",),
                       columns=(Column("email", "string", "E-mail.", nullable=False, pii="email"),))
