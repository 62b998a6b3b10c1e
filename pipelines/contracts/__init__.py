"""Every landing source's contract, in one registry, in an order where parents come before children."""

from pipelines.contracts.core_banking import accounts, customers, nav_prices, products, transactions
from pipelines.contracts.ecommerce import ecommerce_events, ecommerce_orders
from pipelines.contracts.marketing import campaign_responses
from pipelines.contracts.model import Column, SourceContract
from pipelines.contracts.outcomes import aml_cases, fraud_labels
from pipelines.contracts.service import interactions
from pipelines.contracts.supply_chain import firms, invoices

CONTRACTS: dict[str, SourceContract] = {
    c.name: c
    for c in (
        customers, products, firms, accounts, transactions, nav_prices, interactions, campaign_responses,
        ecommerce_orders, ecommerce_events, invoices, fraud_labels, aml_cases,
    )
}


def contract(name: str) -> SourceContract:
    try:
        return CONTRACTS[name]
    except KeyError:
        raise KeyError(f"unknown source {name!r}; sources are: {', '.join(CONTRACTS)}") from None


def dependency_order(names: list[str] | None = None) -> list[str]:
    """Sources sorted so every source comes after the sources its foreign keys point to."""
    wanted = list(names) if names is not None else list(CONTRACTS)
    done: list[str] = []

    def visit(n: str, stack: tuple[str, ...] = ()) -> None:
        if n in done:
            return
        if n in stack:
            raise ValueError(f"foreign-key cycle among sources: {' -> '.join(stack + (n,))}")
        for parent in sorted(CONTRACTS[n].parents):
            visit(parent, stack + (n,))
        done.append(n)

    for n in wanted:
        visit(contract(n).name)
    return [n for n in done if n in wanted]


__all__ = ["CONTRACTS", "Column", "SourceContract", "contract", "dependency_order"]
