"""Whether an order item can be returned, and the return policy's reason in a customer's words.

Django-free on purpose: the shop's selectors decide with it from the database, and the demo
model's corpus (`modelserver.demo.world`) from its fictional orders, so the model learns every
reason the shop really gives, in the shop's own words.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta


@dataclass(frozen=True)
class Verdict:
    eligible: bool
    returnable_quantity: int
    deadline: date | None
    reason: str


def item_verdict(
    *,
    name: str,
    order_number: str,
    cancelled: bool,
    delivered: date | None,
    window_days: int,
    excluded_category: str | None,
    today: date,
    open_rma: str | None,
    remaining: int,
) -> Verdict:
    """The first rule that stops a return wins; `excluded_category` is the item's category name
    where the policy excludes it, `open_rma` the open return that holds it, `remaining` the units
    not returned yet."""
    deadline = delivered + timedelta(days=window_days) if delivered else None
    if cancelled:
        reason = f"Order {order_number} was cancelled, so there is nothing to return."
    elif delivered is None:
        reason = f"{name} has not been delivered yet; a return can be opened once it arrives."
    elif excluded_category is not None:
        reason = (
            f"{name} is in the category {excluded_category!r}, which the return policy excludes."
        )
    elif today > deadline:
        reason = (
            f"The {window_days}-day return window for {name} closed on {deadline.isoformat()} "
            f"(delivered {delivered.isoformat()})."
        )
    elif open_rma is not None:
        reason = f"{name} already has an open return, {open_rma}."
    elif remaining <= 0:
        reason = f"Every unit of {name} on this order has already been returned."
    else:
        return Verdict(
            True, remaining, deadline, f"{name} can be returned until {deadline.isoformat()}."
        )
    return Verdict(False, 0, deadline, reason)
