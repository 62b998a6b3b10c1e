"""E-commerce partner feeds, linked to bank customers only through pseudonymised phone and e-mail."""

from pipelines.contracts.model import Column as C
from pipelines.contracts.model import UPDATED_AT, SourceContract

ECOM_CATEGORIES = (
    "ELECTRONICS", "FASHION", "GROCERY", "HOME", "BEAUTY", "TRAVEL", "EDUCATION", "SPORTS", "BABY", "LUXURY",
    "BOOKS", "HEALTH",
)

ecommerce_orders = SourceContract(
    name="ecommerce_orders",
    domain="e-commerce partner",
    version="1.0",
    format="json",
    description="Orders on the partner platform. The buyer is known by platform id, phone and e-mail.",
    key=("order_id",),
    version_column="updated_at",
    columns=(
        C("order_id", "string", "Order reference.", nullable=False, pattern=r"O\d{10}"),
        C("platform_user_id", "string", "Buyer's id on the platform.", nullable=False),
        C("phone", "string", "Buyer's phone, E.164.", pii="phone"),
        C("email", "string", "Buyer's e-mail.", pii="email"),
        C("order_ts", "timestamp", "When the order was placed.", nullable=False, event_time=True),
        C("category", "string", "Main category of the basket.", nullable=False, allowed=ECOM_CATEGORIES),
        C("amount", "decimal(18,2)", "Basket amount.", nullable=False, min=0),
        C("currency", "string", "Basket currency.", nullable=False, allowed=("CNY", "USD", "EUR", "HKD")),
        C("item_count", "int", "Items in the basket.", nullable=False, min=1),
        C("payment_method", "string", "How it was paid.", nullable=False,
          allowed=("CARD", "WALLET", "BANK_TRANSFER", "CASH_ON_DELIVERY")),
        C("status", "string", "Order status.", nullable=False, allowed=("COMPLETED", "CANCELLED", "RETURNED")),
        UPDATED_AT,
    ),
)

ecommerce_events = SourceContract(
    name="ecommerce_events",
    domain="e-commerce partner",
    version="1.0",
    format="json",
    description="Browsing events on the partner platform (views, searches, cart adds, wish lists).",
    key=("event_id",),
    columns=(
        C("event_id", "string", "Event reference.", nullable=False, pattern=r"E\d{12}"),
        C("platform_user_id", "string", "User's id on the platform.", nullable=False),
        C("phone", "string", "User's phone, E.164.", pii="phone"),
        C("email", "string", "User's e-mail.", pii="email"),
        C("event_ts", "timestamp", "When it happened.", nullable=False, event_time=True),
        C("event_type", "string", "What the user did.", nullable=False,
          allowed=("VIEW", "SEARCH", "ADD_TO_CART", "WISHLIST")),
        C("category", "string", "Category of the item or search.", nullable=False, allowed=ECOM_CATEGORIES),
        C("session_id", "string", "Browsing session.", nullable=False),
        C("device_type", "string", "Device class.", nullable=False, allowed=("MOBILE", "DESKTOP", "TABLET")),
    ),
)
