"""Card-fraud scoring: anomaly and supervised models, their blend, the rules baseline and the alert budget."""
