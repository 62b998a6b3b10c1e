"""Service feeds: contacts, complaints and satisfaction surveys."""

from pipelines.contracts.model import Column as C
from pipelines.contracts.model import UPDATED_AT, SourceContract

interactions = SourceContract(
    name="interactions",
    domain="service",
    version="1.0",
    format="json",
    description=(
        "Contacts between the bank and a customer: service contacts, complaints (with category and resolution), "
        "care calls, event attendance and satisfaction surveys. A complaint is re-sent as its status moves."
    ),
    key=("interaction_id",),
    version_column="updated_at",
    columns=(
        C("interaction_id", "string", "Interaction reference.", nullable=False, pattern=r"I\d{10}"),
        C("customer_id", "string", "Customer.", nullable=False, references="customers.customer_id"),
        C("interaction_ts", "timestamp", "When it happened.", nullable=False, event_time=True),
        C("channel", "string", "Contact channel.", nullable=False,
          allowed=("BRANCH", "PHONE", "MOBILE_APP", "EMAIL", "MESSAGING", "VISIT", "EVENT")),
        C("interaction_type", "string", "Kind of interaction.", nullable=False,
          allowed=("SERVICE_CONTACT", "COMPLAINT", "SURVEY", "CARE_CALL", "EVENT_ATTENDANCE", "ADVISORY")),
        C("complaint_category", "string", "For complaints.",
          allowed=("FEES", "SERVICE", "CARD", "LOAN", "WEALTH", "DIGITAL", "OTHER")),
        C("resolution_status", "string", "For complaints.", allowed=("OPEN", "ACKNOWLEDGED", "RESOLVED", "CLOSED")),
        C("resolved_ts", "timestamp", "When the complaint was resolved.", event_time=True),
        C("satisfaction_score", "int", "Survey score 1 (worst) to 5.", min=1, max=5),
        C("employee_id", "string", "Employee who handled it."),
        UPDATED_AT,
    ),
)
