"""Core-banking feeds: the KYC customer master, the product catalogue, accounts, transactions, fund NAVs."""

from pipelines.contracts.model import Column as C
from pipelines.contracts.model import UPDATED_AT, SourceContract

CURRENCIES = ("CNY", "USD", "EUR", "HKD", "GBP", "JPY")
SEGMENTS = ("MASS", "AFFLUENT", "PRIVATE", "SME")
RISK_TOLERANCE = ("C1", "C2", "C3", "C4", "C5")
RISK_LEVELS = ("R1", "R2", "R3", "R4", "R5")
PRODUCT_CATEGORIES = (
    "CURRENT", "SAVINGS", "TIME_DEPOSIT", "CREDIT_CARD", "PERSONAL_LOAN", "MORTGAGE", "FUND", "WEALTH_MGMT",
    "INSURANCE", "BOND", "SME_LOAN", "TRADE_FINANCE", "PAYROLL",
)
TXN_TYPES = (
    "CARD_PURCHASE", "TRANSFER_IN", "TRANSFER_OUT", "CASH_DEPOSIT", "CASH_WITHDRAWAL", "SALARY",
    "BILL_PAYMENT", "FEE", "INTEREST", "LOAN_REPAYMENT", "CARD_REPAYMENT", "FUND_PURCHASE", "FUND_REDEMPTION",
)
CHANNELS = ("POS", "ECOM", "ATM", "BRANCH", "MOBILE", "ONLINE")

customers = SourceContract(
    name="customers",
    delivery="changes",
    domain="core banking",
    version="1.0",
    format="csv",
    description="KYC customer master: one row per customer, re-sent whole when any attribute changes.",
    key=("customer_id",),
    version_column="updated_at",
    record_start="onboarding_date",
    columns=(
        C("customer_id", "string", "Bank customer number.", nullable=False, pattern=r"C\d{8}"),
        C("customer_type", "string", "Retail person or SME (a firm).", nullable=False, allowed=("RETAIL", "SME")),
        C("full_name", "string", "Legal name of the person or firm.", nullable=False, pii="name"),
        C("id_number", "string", "National ID or business registration number.", nullable=False, pii="id_number"),
        C("phone", "string", "Mobile phone number, E.164.", pii="phone"),
        C("email", "string", "E-mail address.", pii="email"),
        C("address", "string", "Residential or registered address.", pii="address"),
        C("birth_date", "date", "Date of birth (retail) or of incorporation (SME).", event_time=True),
        C("gender", "string", "F, M or U (unknown / not applicable).", allowed=("F", "M", "U")),
        C("marital_status", "string", "Marital status.", allowed=("SINGLE", "MARRIED", "DIVORCED", "WIDOWED")),
        C("wedding_date", "date", "Wedding date, for anniversary care.", event_time=True),
        C("occupation", "string", "Occupation group.",
          allowed=("STUDENT", "EMPLOYEE", "PROFESSIONAL", "CIVIL_SERVANT", "SELF_EMPLOYED", "BUSINESS_OWNER",
                   "RETIRED", "UNEMPLOYED", "OTHER")),
        C("annual_income", "decimal(18,2)", "Declared annual income (retail) or turnover (SME), CNY.", min=0),
        C("city", "string", "City of residence or registration.", nullable=False),
        C("segment", "string", "Bank segment.", nullable=False, allowed=SEGMENTS),
        C("risk_tolerance", "string", "KYC investment risk tolerance C1 (lowest) to C5.", nullable=False,
          allowed=RISK_TOLERANCE),
        C("kyc_risk_rating", "string", "AML customer risk rating.", nullable=False, allowed=("LOW", "MEDIUM", "HIGH")),
        C("marketing_consent", "boolean", "Customer agreed to marketing contact.", nullable=False),
        C("branch_id", "string", "Home branch.", nullable=False, pattern=r"B\d{3}"),
        C("account_manager_id", "string", "Assigned relationship manager, if any.", pattern=r"AM\d{4}"),
        C("firm_id", "string", "For SME customers, the firm in the supply-chain feed.", pattern=r"F\d{8}"),
        C("onboarding_date", "date", "Date the relationship started.", nullable=False, event_time=True),
        C("status", "string", "Relationship status.", nullable=False, allowed=("ACTIVE", "CLOSED")),
        UPDATED_AT,
    ),
)

products = SourceContract(
    name="products",
    delivery="changes",
    domain="core banking",
    version="1.0",
    format="csv",
    description="Product catalogue with risk level and eligibility rules.",
    key=("product_id",),
    version_column="updated_at",
    record_start="launch_date",
    columns=(
        C("product_id", "string", "Product code.", nullable=False, pattern=r"P\d{4}"),
        C("product_name", "string", "Marketing name.", nullable=False),
        C("category", "string", "Product category.", nullable=False, allowed=PRODUCT_CATEGORIES),
        C("risk_level", "string", "Regulatory product risk level R1 (lowest) to R5.", nullable=False, allowed=RISK_LEVELS),
        C("min_age", "int", "Youngest eligible customer age.", min=0, max=120),
        C("max_age", "int", "Oldest eligible customer age.", min=0, max=120),
        C("eligible_segments", "string", "Pipe-separated segments that may hold it, e.g. MASS|AFFLUENT.", nullable=False),
        C("min_investment", "decimal(18,2)", "Minimum amount to open, CNY.", min=0),
        C("interest_rate", "double", "Annual rate for deposits and loans, percent.", min=-5, max=40),
        C("term_months", "int", "Term for time deposits, loans and closed-end funds.", min=0, max=480),
        C("launch_date", "date", "Date the product was first offered.", nullable=False, event_time=True),
        C("status", "string", "Offered or retired.", nullable=False, allowed=("ACTIVE", "RETIRED")),
        UPDATED_AT,
    ),
)

accounts = SourceContract(
    name="accounts",
    delivery="changes",
    domain="core banking",
    version="1.0",
    format="csv",
    description=(
        "Accounts and holdings: deposits (with maturity), loans (with due dates), cards (limits, statement "
        "dates), wealth holdings (units, cost). Re-sent whenever the balance or status changes."
    ),
    key=("account_id",),
    version_column="updated_at",
    record_start="open_date",
    columns=(
        C("account_id", "string", "Account number.", nullable=False, pattern=r"A\d{10}"),
        C("customer_id", "string", "Holder.", nullable=False, references="customers.customer_id"),
        C("product_id", "string", "Product held.", nullable=False, references="products.product_id"),
        C("currency", "string", "Account currency.", nullable=False, allowed=CURRENCIES),
        C("open_date", "date", "Date opened.", nullable=False, event_time=True),
        C("close_date", "date", "Date closed, if closed.", event_time=True),
        C("maturity_date", "date", "Maturity of a time deposit, loan or closed-end product."),
        C("balance", "decimal(18,2)", "Balance (deposits, loans outstanding, card balance), account currency.",
          nullable=False),
        C("credit_limit", "decimal(18,2)", "Card or credit-line limit.", min=0),
        C("interest_rate", "double", "Contract annual rate, percent.", min=-5, max=40),
        C("next_due_date", "date", "Next loan instalment or card repayment due date."),
        C("due_amount", "decimal(18,2)", "Amount due on next_due_date.", min=0),
        C("statement_date", "date", "Latest card statement date.", event_time=True),
        C("units", "decimal(18,6)", "Units held of a fund or wealth product.", min=0),
        C("cost_basis", "decimal(18,2)", "Total purchase cost of the units held.", min=0),
        C("status", "string", "Account status.", nullable=False, allowed=("ACTIVE", "DORMANT", "OVERDUE", "CLOSED")),
        UPDATED_AT,
    ),
)

transactions = SourceContract(
    name="transactions",
    domain="core banking",
    version="1.0",
    format="csv",
    description=(
        "Posted money movements: card, transfer, cash and others. A transaction re-sent later with the same "
        "txn_id and a later updated_at corrects the earlier one (e.g. a reversal)."
    ),
    key=("txn_id",),
    version_column="updated_at",
    columns=(
        C("txn_id", "string", "Transaction reference.", nullable=False, pattern=r"T\d{12}"),
        C("account_id", "string", "Account debited or credited.", nullable=False, references="accounts.account_id"),
        C("customer_id", "string", "Account holder.", nullable=False, references="customers.customer_id"),
        C("txn_ts", "timestamp", "When the transaction happened (UTC).", nullable=False, event_time=True),
        C("amount", "decimal(18,2)", "Amount, always positive; direction says which way.", nullable=False, min=0),
        C("currency", "string", "Transaction currency.", nullable=False, allowed=CURRENCIES),
        C("direction", "string", "DEBIT (money out) or CREDIT (money in).", nullable=False, allowed=("DEBIT", "CREDIT")),
        C("txn_type", "string", "Kind of movement.", nullable=False, allowed=TXN_TYPES),
        C("channel", "string", "Where it was initiated.", nullable=False, allowed=CHANNELS),
        C("merchant_id", "string", "Card acceptor, for card purchases.", pattern=r"M\d{6}"),
        C("mcc", "string", "ISO 18245 merchant category code.", pattern=r"\d{4}"),
        C("counterparty_account", "string", "Other side of a transfer (account number or masked external)."),
        C("counterparty_bank", "string", "Bank of the other side (BIC-like code); OWN for this bank."),
        C("country", "string", "ISO 3166 alpha-2 country where it happened.", nullable=False, pattern=r"[A-Z]{2}"),
        C("device_id", "string", "Device fingerprint for digital channels."),
        C("balance_after", "decimal(18,2)", "Account balance after posting."),
        C("status", "string", "Posting status.", nullable=False, allowed=("POSTED", "REVERSED", "DECLINED")),
        UPDATED_AT,
    ),
)

nav_prices = SourceContract(
    name="nav_prices",
    domain="core banking",
    version="1.0",
    format="csv",
    description="Daily net asset value per unit of each fund and wealth product, with dividends paid.",
    key=("product_id", "nav_date"),
    columns=(
        C("product_id", "string", "Fund or wealth product.", nullable=False, references="products.product_id"),
        C("nav_date", "date", "Valuation date.", nullable=False, event_time=True),
        C("nav", "decimal(18,6)", "Net asset value per unit.", nullable=False, min=0),
        C("dividend_per_unit", "decimal(18,6)", "Dividend paid per unit on nav_date, if any.", min=0),
    ),
)
