"""Outcome feeds. They arrive later than the events they judge, which models must respect."""

from pipelines.contracts.model import Column as C
from pipelines.contracts.model import UPDATED_AT, SourceContract

fraud_labels = SourceContract(
    name="fraud_labels",
    domain="outcomes",
    version="1.0",
    format="csv",
    description="Confirmed card fraud, days or weeks after the transaction (disputes, chargebacks, investigation).",
    key=("txn_id",),
    version_column="label_ts",
    columns=(
        C("txn_id", "string", "The fraudulent transaction.", nullable=False, references="transactions.txn_id"),
        C("label_ts", "timestamp", "When the fraud was confirmed.", nullable=False, event_time=True),
        C("fraud_type", "string", "Fraud pattern.", nullable=False,
          allowed=("ACCOUNT_TAKEOVER", "CARD_TESTING", "COMPROMISED_MERCHANT", "OTHER")),
        C("label_source", "string", "How it was confirmed.", nullable=False,
          allowed=("CUSTOMER_DISPUTE", "CHARGEBACK", "INVESTIGATION")),
    ),
)

aml_cases = SourceContract(
    name="aml_cases",
    domain="outcomes",
    version="1.0",
    format="json",
    description="Anti-money-laundering investigations and their outcome (dismissed or reported).",
    key=("case_id",),
    version_column="updated_at",
    columns=(
        C("case_id", "string", "Case reference.", nullable=False, pattern=r"K\d{8}"),
        C("customer_id", "string", "Customer investigated.", nullable=False, references="customers.customer_id"),
        C("opened_date", "date", "Investigation opened.", nullable=False, event_time=True),
        C("closed_date", "date", "Investigation closed.", event_time=True),
        C("typology", "string", "Suspected typology.", nullable=False,
          allowed=("STRUCTURING", "FAN_IN", "FAN_OUT", "ROUND_TRIPPING", "PASS_THROUGH", "DORMANT_REACTIVATION",
                   "OTHER")),
        C("outcome", "string", "Where the case stands.", nullable=False, allowed=("OPEN", "DISMISSED", "REPORTED")),
        UPDATED_AT,
    ),
)
