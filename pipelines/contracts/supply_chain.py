"""Supply-chain feeds: SME customers' firms, their trading partners, and the invoices between them."""

from pipelines.contracts.model import Column as C
from pipelines.contracts.model import UPDATED_AT, SourceContract

firms = SourceContract(
    name="firms",
    delivery="changes",
    domain="supply chain",
    version="1.0",
    format="csv",
    description="Firms: the bank's SME customers and their trading partners (who may bank elsewhere).",
    key=("firm_id",),
    version_column="updated_at",
    columns=(
        C("firm_id", "string", "Firm reference.", nullable=False, pattern=r"F\d{8}"),
        C("firm_name", "string", "Registered business name.", nullable=False),
        C("industry", "string", "Industry.", nullable=False,
          allowed=("MANUFACTURING", "WHOLESALE", "RETAIL", "LOGISTICS", "CONSTRUCTION", "AGRICULTURE",
                   "SERVICES", "TECHNOLOGY")),
        C("city", "string", "City of registration.", nullable=False),
        C("founded_date", "date", "Date of incorporation.", nullable=False, event_time=True),
        C("annual_revenue", "decimal(18,2)", "Last reported annual revenue, CNY.", min=0),
        C("employee_count", "int", "Employees.", min=0),
        C("customer_id", "string", "The bank customer this firm is, if it banks here.",
          references="customers.customer_id"),
        UPDATED_AT,
    ),
)

invoices = SourceContract(
    name="invoices",
    domain="supply chain",
    version="1.0",
    format="parquet",
    description="Invoices between firms: who sold to whom, amounts, due and paid dates.",
    key=("invoice_id",),
    version_column="updated_at",
    point_in_time=True,  # status and paid date change after issue; features read them as known then
    columns=(
        C("invoice_id", "string", "Invoice reference.", nullable=False, pattern=r"V\d{10}"),
        C("seller_firm_id", "string", "Seller.", nullable=False, references="firms.firm_id"),
        C("buyer_firm_id", "string", "Buyer.", nullable=False, references="firms.firm_id"),
        C("issue_date", "date", "Issue date.", nullable=False, event_time=True),
        C("due_date", "date", "Payment due date.", nullable=False),
        C("paid_date", "date", "Date paid, if paid.", event_time=True),
        C("amount", "decimal(18,2)", "Invoice amount.", nullable=False, min=0),
        C("currency", "string", "Invoice currency.", nullable=False, allowed=("CNY", "USD", "EUR", "HKD")),
        C("status", "string", "Invoice status.", nullable=False, allowed=("ISSUED", "PAID", "OVERDUE", "CANCELLED")),
        UPDATED_AT,
    ),
)
