"""AML typology features on small inline graphs and ledgers: exact values, near misses, point in time."""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone

import pytest

from features.aml import AML_FEATURES, aml_features
from features.aml.cycles import find_cycles, transfer_edges
from features.aml.flows import prepared
from features.aml.params import AmlFeatureParams

D = date(2026, 3, 31)
T0 = datetime(2026, 3, 20, 9, 0, tzinfo=timezone.utc)
TXN_SCHEMA = ("txn_id string, customer_id string, account_id string, txn_ts timestamp, amount decimal(18,2), "
              "currency string, direction string, txn_type string, counterparty_account string, "
              "counterparty_bank string, country string, device_id string, balance_after decimal(18,2), "
              "status string, known_date date")


def acct(c: str) -> str:
    return "A" + c


class Ledger:
    """Inline transactions: each call adds one row with the defaults below."""

    def __init__(self):
        self.rows = []

    def add(self, customer, ts, amount, txn_type, cp=None, bank=None, currency="CNY", country="CN", device=None,
            balance=1000.0, status="POSTED", known=None):
        direction = "CREDIT" if txn_type in ("TRANSFER_IN", "CASH_DEPOSIT", "SALARY", "INTEREST") else "DEBIT"
        n = len(self.rows)
        self.rows.append((f"T{n:012d}", customer, acct(customer), ts, amount, currency, direction, txn_type, cp,
                          bank, country, device, balance, status, known or ts.date()))
        return f"T{n:012d}"

    def transfer(self, src, dst, ts, amount):
        """A transfer between two own customers: the debit at src and the credit at dst."""
        tid = self.add(src, ts, amount, "TRANSFER_OUT", acct(dst), "OWN")
        self.add(dst, ts + timedelta(seconds=30), amount, "TRANSFER_IN", acct(src), "OWN")
        return tid

    def frame(self, spark):
        from decimal import Decimal
        rows = [tuple(Decimal(str(v)) if i in (4, 12) and v is not None else v for i, v in enumerate(r))
                for r in self.rows]
        return spark.createDataFrame(rows, TXN_SCHEMA)


D2 = date(2026, 4, 2)
H = timedelta(hours=12)
LAST_WEEK = datetime(2026, 3, 26, 10, tzinfo=timezone.utc)


def _cycles(g: Ledger):
    # a 3-hop cycle: A -> B -> C -> A, losing a little at each hop
    g.transfer("CA", "CB", T0, 100_000)
    g.transfer("CB", "CC", T0 + H, 98_500)
    g.transfer("CC", "CA", T0 + 2 * H, 97_000)
    # near miss: a chain that never returns
    g.transfer("CD", "CE", T0, 100_000)
    g.transfer("CE", "CF", T0 + H, 99_000)
    g.transfer("CF", "CG", T0 + 2 * H, 98_000)
    # near miss: returns, but after the cycle window (8 days later)
    g.transfer("CH", "CI", T0 - timedelta(days=9), 80_000)
    g.transfer("CI", "CH", T0 - timedelta(days=1), 79_000)
    # near miss: comes back with more money than left (not a layering hop)
    g.transfer("CJ", "CK", T0, 50_000)
    g.transfer("CK", "CJ", T0 + H, 80_000)
    # a 2-hop cycle of small amounts: under cycle_min_cny
    g.transfer("CL", "CM", T0, 5_000)
    g.transfer("CM", "CL", T0 + H, 4_900)


def _structuring(g: Ledger):
    for k in range(4):
        ts = LAST_WEEK + timedelta(days=k)
        g.add("SS", ts, 48_000, "CASH_DEPOSIT")          # in the band [45,000, 50,000)
        g.add("ST", ts, 44_000, "CASH_DEPOSIT")          # below the band: in the band under it [40,000, 45,000)
        g.add("SU", ts, 50_000, "CASH_DEPOSIT")          # at the threshold: reported, not structuring
        g.add("SV", ts, 9_600, "TRANSFER_IN", cp="X1", bank="BKCHCNBJ", currency="USD")  # USD threshold 10,000
        g.add("SW", ts, 48_000, "CARD_PURCHASE")         # not a flow of funds
        # delivered late: the fourth deposit is known only on D2
        g.add("SL", T0 + timedelta(days=k), 48_000, "CASH_DEPOSIT", known=D2 if k == 3 else None)
    g.add("SS", T0 - timedelta(days=40), 47_000, "CASH_DEPOSIT")   # outside 30 days, inside 90


def _fans(g: Ledger):
    for k in range(12):
        g.add("FI", T0 + timedelta(hours=k), 8_000, "TRANSFER_IN", cp=f"EXT{k:03d}", bank="ABOCCNBJ")
    # fan-out: 3 receivers paid 50 days before, then 10 new ones (and one old one again) in the last 7 days
    for k in range(3):
        g.add("FO", datetime(2026, 2, 9, 10, tzinfo=timezone.utc), 1_000, "TRANSFER_OUT", cp=f"OLD{k}", bank="ABOCCNBJ")
    for k in range(10):
        g.add("FO", datetime(2026, 3, 28, 10, tzinfo=timezone.utc) + timedelta(hours=k), 9_000, "TRANSFER_OUT",
              cp=f"NEW{k}", bank="ABOCCNBJ")
    g.add("FO", datetime(2026, 3, 29, tzinfo=timezone.utc), 9_000, "TRANSFER_OUT", cp="OLD0", bank="ABOCCNBJ")


def _pass_through(g: Ledger):
    g.add("PP", T0, 200_000, "TRANSFER_IN", cp="E1", bank="ABOCCNBJ", balance=200_300)
    g.add("PP", T0 + timedelta(hours=30), 198_000, "TRANSFER_OUT", cp="E2", bank="ABOCCNBJ", balance=300)
    g.add("PQ", T0, 200_000, "TRANSFER_IN", cp="E1", bank="ABOCCNBJ", balance=260_000)
    g.add("PQ", T0 + timedelta(hours=80), 198_000, "TRANSFER_OUT", cp="E2", bank="ABOCCNBJ", balance=62_000)


def _dormancy(g: Ledger):
    g.add("DD", datetime(2026, 1, 10, tzinfo=timezone.utc), 100, "CARD_PURCHASE")     # D-80
    g.add("DD", datetime(2026, 2, 15, tzinfo=timezone.utc), 3, "INTEREST")          # passive: not activity
    for c in ("DD", "DN", "DR"):                                                     # D-5
        g.add(c, datetime(2026, 3, 26, tzinfo=timezone.utc), 90_000, "TRANSFER_IN", cp="E", bank="ABOCCNBJ")


def _network(g: Ledger):
    g.add("NX", T0, 100, "CARD_PURCHASE", device="dev1")
    g.add("NY", T0, 100, "CARD_PURCHASE", device="dev1")        # shares a device with the past case NX
    g.add("NZ", T0, 100, "CARD_PURCHASE", device="dev2")        # shares an address with NY
    for k in range(25):                                          # a hub: 25 customers on one terminal
        g.add(f"NH{k:02d}", T0, 100, "CARD_PURCHASE", device="kiosk")
    g.add("NQ", T0, 60_000, "TRANSFER_OUT", cp="ANZ", bank="OWN")   # a large transfer to NZ: closeness only
    g.add("NZ", T0, 60_000, "TRANSFER_IN", cp="ANQ", bank="OWN")
    for c in ("NE1", "NE2"):                                    # both pay one account at another bank: linked
        g.add(c, T0, 20_000, "TRANSFER_OUT", cp="EXT-COLLECTOR", bank="ABOCCNBJ")
    for c in ("NF1", "NF2"):                                    # both pay a friend who banks with us: not a group
        g.transfer(c, "NFR", T0, 20_000)
    for c in ("NM1", "NM2"):                                    # the same masked number: most likely two accounts
        g.add(c, T0, 20_000, "TRANSFER_OUT", cp="6222****0417", bank="ABOCCNBJ")


@pytest.fixture(scope="module")
def ledger():
    g = Ledger()
    for scenario in (_cycles, _structuring, _fans, _pass_through, _dormancy, _network):
        scenario(g)
    return g


@pytest.fixture(scope="module")
def built(spark, ledger):
    """One build over every scenario (disjoint customers), for the as-of dates D and D2."""
    ids = sorted({r[1] for r in ledger.rows})
    special = {"DR": date(2026, 3, 16)}
    rows = [(d, c, "MASS", "EMPLOYEE", special.get(c, date(2020, 1, 1)),
             "shared" if c in ("NY", "NZ") else f"addr-{c}") for d in (D, D2) for c in ids]
    customers = spark.createDataFrame(rows, "as_of_date date, customer_id string, segment string, occupation string, "
                                            "onboarding_date date, address_token string")
    accounts = spark.createDataFrame([(acct(c), c) for c in ids], "account_id string, customer_id string")
    cases = spark.createDataFrame([("NX", date(2026, 2, 1)), ("NH00", date(2026, 4, 5))],
                                  "customer_id string, known_date date")
    dates = spark.createDataFrame([(D,), (D2,)], "as_of_date date")
    out = aml_features(ledger.frame(spark), customers, accounts, cases, dates, AmlFeatureParams())
    rows = out.features.collect()
    return {(r["as_of_date"], r["customer_id"]): r.asDict() for r in rows}, out, len(ids)


@pytest.fixture(scope="module")
def feats(built):
    return {c: r for (d, c), r in built[0].items() if d == D}


def _cycle_rows(spark, ledger, params):
    txns = prepared(ledger.frame(spark))
    ids = sorted({r[1] for r in ledger.rows})
    accounts = spark.createDataFrame([(acct(c), c) for c in ids], "account_id string, customer_id string")
    return find_cycles(transfer_edges(txns, accounts, 10_000), params).collect()


def test_a_three_hop_cycle_is_found_once_from_its_origin_and_near_misses_are_not(spark, ledger):
    cycles = _cycle_rows(spark, ledger, AmlFeatureParams())
    assert len(cycles) == 1
    c = cycles[0]
    assert (c["customer_id"], c["hops"]) == ("CA", 3)
    assert c["customer_path"] == ["CA", "CB", "CC", "CA"]
    assert c["account_path"] == ["ACA", "ACB", "ACC", "ACA"]
    assert c["txn_ids"] == [r[0] for r in ledger.rows[:6:2]]       # the three debits, in order
    # with at most 2 hops the 3-hop cycle is not a cycle
    assert _cycle_rows(spark, ledger, AmlFeatureParams(cycle_max_hops=2)) == []


def test_cycle_features_count_only_on_the_origin(feats):
    assert feats["CA"]["cycle_count_30d"] == 1 and feats["CA"]["cycle_min_hops_30d"] == 3
    assert feats["CA"]["cycle_max_cny_30d"] == pytest.approx(100_000)
    for other in ("CB", "CC", "CD", "CE", "CF", "CH", "CI", "CJ", "CK", "CL", "CM"):
        assert feats[other]["cycle_count_30d"] == 0, other


def test_structuring_counts_flows_just_under_the_threshold_of_their_currency(feats):
    assert [feats["SS"][f"near_threshold_count_{w}d"] for w in (7, 30, 90)] == [4, 4, 5]
    assert feats["SS"]["near_threshold_cny_30d"] == pytest.approx(192_000)
    assert (feats["ST"]["near_threshold_count_30d"], feats["ST"]["below_band_count_30d"]) == (0, 4)
    assert feats["SS"]["below_band_count_30d"] == 0
    assert (feats["SU"]["near_threshold_count_30d"], feats["SU"]["over_threshold_count_30d"]) == (0, 4)
    assert feats["SV"]["near_threshold_count_30d"] == 4
    assert feats["SW"]["near_threshold_count_30d"] == 0
    assert feats["SS"]["cash_deposit_cny_30d"] == pytest.approx(192_000)


def test_fan_in_fan_out_and_new_receivers(feats):
    assert feats["FI"]["distinct_senders_30d"] == 12 and feats["FI"]["distinct_senders_7d"] == 0
    assert feats["FI"]["new_senders_30d"] == 12 and feats["FI"]["new_senders_7d"] == 0
    assert feats["FO"]["distinct_receivers_7d"] == 11
    assert feats["FO"]["new_receivers_7d"] == 10 and feats["FO"]["new_receivers_30d"] == 10
    assert feats["FO"]["distinct_receivers_30d"] == 11


def test_pass_through_share_counts_outflows_within_the_hours_after_each_inflow(feats):
    assert feats["PP"]["pass_through_share_30d"] == pytest.approx(0.99)
    assert feats["PQ"]["pass_through_share_30d"] == pytest.approx(0.0)
    assert feats["PP"]["closing_balance_to_inflow_30d"] == pytest.approx(300 / 200_000)
    assert feats["PQ"]["closing_balance_to_inflow_30d"] == pytest.approx(62_000 / 200_000)


def test_dormant_gap_from_the_previous_transaction_onboarding_or_window_start(feats):
    assert feats["DD"]["dormant_gap_days"] == 75
    assert feats["DN"]["dormant_gap_days"] == 84            # nothing before: from the window start (D-89)
    assert feats["DR"]["dormant_gap_days"] == 10            # onboarded 10 days before
    assert feats["DD"]["active_days_30d"] == 1


def test_network_groups_hubs_and_hops_to_a_past_case(feats):
    assert [feats[c]["network_group_size"] for c in ("NX", "NY", "NZ")] == [3, 3, 3]
    assert feats["NY"]["linked_customers"] == 2
    assert feats["NH03"]["network_group_size"] == 1 and feats["NH03"]["linked_customers"] == 0
    assert [feats[c]["hops_to_past_case"] for c in ("NX", "NY", "NZ", "NQ")] == [0, 1, 2, 3]
    # NH00's case became known after the as-of date: it does not count yet
    assert feats["NH00"]["hops_to_past_case"] is None


def test_a_shared_payee_at_another_bank_links_but_a_shared_payee_of_ours_or_a_masked_number_does_not(feats):
    assert [(feats[c]["network_group_size"], feats[c]["linked_customers"]) for c in ("NE1", "NE2")] == [(2, 1)] * 2
    # NF1 and NF2 both pay NFR, our customer: their transfers are direct links (closeness), not a shared attribute
    assert [(feats[c]["network_group_size"], feats[c]["linked_customers"]) for c in ("NF1", "NF2", "NFR")] == [(1, 0)] * 3
    assert [(feats[c]["network_group_size"], feats[c]["linked_customers"]) for c in ("NM1", "NM2")] == [(1, 0)] * 2


def test_a_record_delivered_after_the_as_of_date_does_not_count(built):
    rows = built[0]
    assert rows[(D, "SL")]["near_threshold_count_30d"] == 3
    assert rows[(D2, "SL")]["near_threshold_count_30d"] == 4


def test_the_output_has_the_documented_columns_and_every_active_customer(built):
    rows, out, customers = built
    assert out.features.columns == AML_FEATURES.column_names
    assert len([k for k in rows if k[0] == D]) == customers
    assert {k[0] for k in rows} == {D, D2}
