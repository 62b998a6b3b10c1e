"""Customer lifecycle models: lifetime value, churn propensity, lifecycle stage."""
