"""Model families (recommend, fraud, aml, lifecycle, sme_risk): train, evaluate and score, tracked in MLflow."""
