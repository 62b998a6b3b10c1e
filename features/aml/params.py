"""What the money-laundering typology features count as structuring, pass-through, a cycle or a shared link.

Every value comes from `conf/` (models.aml.features); the defaults here are the ones documented in
docs/features.md. The windows themselves (7, 30 and 90 days ending on the as-of date) are fixed: they are part
of the feature names.
"""

from __future__ import annotations

from dataclasses import dataclass, field

WINDOWS = (7, 30, 90)
LOOKBACK_DAYS = max(WINDOWS)


@dataclass(frozen=True)
class AmlFeatureParams:
    # structuring: a flow in [threshold x (1 - band), threshold) of its own currency is "just under"
    reporting_thresholds: dict[str, float] = field(default_factory=lambda: {
        "CNY": 50_000.0, "USD": 10_000.0, "EUR": 10_000.0, "HKD": 80_000.0, "GBP": 8_000.0, "JPY": 1_000_000.0})
    threshold_band: float = 0.10
    # the money movements AML looks at (card purchases, fees and interest are not flows of funds)
    flow_types: tuple[str, ...] = ("TRANSFER_IN", "TRANSFER_OUT", "CASH_DEPOSIT", "CASH_WITHDRAWAL")
    # transaction types a customer does not initiate: they neither break nor end a dormant spell
    passive_types: tuple[str, ...] = ("INTEREST", "FEE")
    # pass-through: an incoming flow of at least min_cny, and what leaves within `hours` after it
    pass_through_hours: int = 72
    pass_through_min_cny: float = 10_000.0
    # round tripping: transfers between the bank's own accounts of at least min_cny, returning to the
    # origin account through 2..max_hops hops within window_hours, each hop within max_hop_gap_hours of the
    # previous one and carrying between (1 - hop_loss) and (1 + hop_gain) of its amount
    cycle_min_cny: float = 10_000.0
    cycle_max_hops: int = 4
    cycle_window_hours: int = 7 * 24
    cycle_max_hop_gap_hours: int = 72
    cycle_hop_loss: float = 0.10
    cycle_hop_gain: float = 0.05
    # network: customers linked by a shared device, address or transfer counterparty (transfers of at least
    # link_min_cny); an attribute shared by more than hub_max_customers customers is a hub (a biller, a
    # shared branch terminal) and links nobody
    link_min_cny: float = 10_000.0
    hub_max_customers: int = 20
    max_group_iterations: int = 20
    max_case_hops: int = 3
    # dormant reactivation: no customer-initiated transaction for at least dormant_days before one in the
    # last 30 days (measured within the 90-day window, so dormant_days <= 60)
    dormant_days: int = 60
    # sudden change: 30-day inflow against the customer's own previous 60 days (per 30 days, floored) and
    # against peers (same segment and occupation; groups smaller than peer_min_customers give no z-score)
    change_floor_cny: float = 1_000.0
    peer_min_customers: int = 20
    high_risk_countries: tuple[str, ...] = ("KP", "IR", "MM", "SY", "YE", "AF", "VE", "HT", "SS", "ML")

    def __post_init__(self) -> None:
        if not 0 < self.threshold_band < 1:
            raise ValueError("threshold_band must be between 0 and 1")
        if not self.reporting_thresholds or min(self.reporting_thresholds.values()) <= 0:
            raise ValueError("reporting_thresholds needs a positive threshold per currency")
        if not 2 <= self.cycle_max_hops <= 4:
            raise ValueError("cycle_max_hops must be 2, 3 or 4")
        if not 0 <= self.cycle_hop_loss < 1 or self.cycle_hop_gain < 0:
            raise ValueError("cycle_hop_loss must be in [0, 1) and cycle_hop_gain >= 0")
        if not 0 < self.dormant_days <= LOOKBACK_DAYS - 30:
            raise ValueError(f"dormant_days must be between 1 and {LOOKBACK_DAYS - 30} (measured within the "
                             f"{LOOKBACK_DAYS}-day window before a transaction of the last 30 days)")
        if self.hub_max_customers < 2:
            raise ValueError("hub_max_customers must be at least 2 (an attribute links two or more customers)")
        if self.max_case_hops < 1 or self.max_group_iterations < 1:
            raise ValueError("max_case_hops and max_group_iterations must be at least 1")


DEFAULTS = AmlFeatureParams()
