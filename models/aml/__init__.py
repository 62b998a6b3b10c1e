"""Anti-money laundering: typology rules and the threshold baseline (Spark), the blended risk model and the
evaluation at an alert budget (pandas)."""
