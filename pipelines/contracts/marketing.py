"""Marketing feeds: offers made to customers and what came of them."""

from pipelines.contracts.model import Column as C
from pipelines.contracts.model import UPDATED_AT, SourceContract

campaign_responses = SourceContract(
    name="campaign_responses",
    domain="marketing",
    version="1.0",
    format="csv",
    description="Offers made in campaigns: whether the customer responded and whether the offer converted.",
    key=("response_id",),
    version_column="updated_at",
    columns=(
        C("response_id", "string", "Offer reference.", nullable=False, pattern=r"R\d{10}"),
        C("campaign_id", "string", "Campaign.", nullable=False),
        C("customer_id", "string", "Customer offered.", nullable=False, references="customers.customer_id"),
        C("product_id", "string", "Product offered.", nullable=False, references="products.product_id"),
        C("offer_ts", "timestamp", "When the offer was made.", nullable=False, event_time=True),
        C("channel", "string", "Offer channel.", nullable=False,
          allowed=("SMS", "EMAIL", "MOBILE_APP", "PHONE", "BRANCH")),
        C("responded", "boolean", "Customer responded (clicked, called back, visited).", nullable=False),
        C("converted", "boolean", "Customer took the product.", nullable=False),
        C("response_ts", "timestamp", "When the customer responded.", event_time=True),
        UPDATED_AT,
    ),
)
