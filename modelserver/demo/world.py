"""A fictional customer's orders, parcels and returns, and the tool results the agent would return
for them, in the exact JSON shapes documented in `assistant.agent.spec`.

Product names and facilities come from the demo shop's catalogue; statuses and carriers from the
shop domain (`assistant.shop.models`, restated here because this module must not import Django).
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal

from assistant.agent import spec
from assistant.shop import errors
from assistant.shop.demo import catalogue
from assistant.shop.eligibility import item_verdict

CNY_PER_USD = Decimal("7.1")  # as the demo seed converts prices
CARRIERS = {  # code: (display name, tracking number shape: prefix, alphabet, length, suffix)
    "ups": ("UPS", "1Z", "0123456789ABCDEFGHJKLMNPRTVWXY", 16, ""),
    "fedex": ("FedEx", "", "0123456789", 12, ""),
    "dhl": ("DHL Express", "", "0123456789", 10, ""),
    "usps": ("USPS", "9400", "0123456789", 18, ""),
    "sf_express": ("SF Express", "SF", "0123456789", 13, ""),
    "china_post": ("China Post", "EA", "0123456789", 9, "CN"),
}
TRACKING_URLS = {
    "ups": "https://www.ups.com/track?tracknum={}",
    "fedex": "https://www.fedex.com/fedextrack/?trknbr={}",
    "dhl": "https://www.dhl.com/en/express/tracking.html?AWB={}",
    "usps": "https://tools.usps.com/go/TrackConfirmAction?tLabels={}",
    "sf_express": "https://www.sf-express.com/chn/en/waybill/waybill-detail/{}",
    "china_post": "https://yjcx.ems.com.cn/qps/yjcx?mailNum={}",
}
ORDER_STATUSES = ["pending", "paid", "processing", "shipped", "delivered", "cancelled"]
TRANSIT_STATUSES = ["label_created", "in_transit", "out_for_delivery", "exception"]
RETURN_STATUSES = ["requested", "approved", "received", "refunded", "rejected", "cancelled"]
RETURNABLE = {slug: ok for slug, _, _, ok in catalogue.CATEGORIES}
CATEGORY_NAMES = {slug: name for slug, name, _, _ in catalogue.CATEGORIES}
NON_RETURNABLE = [name for _, name, _, ok in catalogue.CATEGORIES if not ok]
SHOP_NAMES = ["Demo Shop", "Northwind Goods", "Harbor & Pine", "Lotus Market", "Bluebird Store"]


@dataclass
class Item:
    sku: str
    name: str
    quantity: int
    category: str
    price: Decimal
    open_rma: str | None = None  # an open return holds it
    returned: int = 0  # units returned already


@dataclass
class Parcel:
    carrier: str
    tracking_number: str
    status: str
    items: list[Item]
    shipped: date
    delivered: date | None
    location: str
    description: str
    at: str


@dataclass
class Order:
    number: str
    status: str
    placed: date
    currency: str
    items: list[Item]
    parcels: list[Parcel] = field(default_factory=list)

    @property
    def total(self) -> str:
        return str(sum((i.price * i.quantity for i in self.items), Decimal("0.00")))


@dataclass
class Customer:
    """One customer of the fictional shop, with the system prompt the agent would send."""

    lang: str  # "en" or "zh": the customer's locale (mixed-language users are "zh")
    name: str
    shop_name: str
    window_days: int
    non_returnable: list[str]
    today: date

    def system_prompt(self) -> str:
        return spec.system_prompt(
            shop_name=self.shop_name,
            window_days=self.window_days,
            non_returnable=self.non_returnable,
            customer_name=self.name,
        )


def make_customer(rng: random.Random, lang: str) -> Customer:
    if lang == "en":
        name = f"{rng.choice(catalogue.EN_FIRST)} {rng.choice(catalogue.EN_LAST)}"
    else:
        name = rng.choice(catalogue.ZH_SURNAMES)[0] + rng.choice(catalogue.ZH_GIVEN)[0]
    # Mostly the demo shop's own policy (30 days), sometimes another so the model reads it.
    window = rng.choice([30, 30, 30, 14, 15, 45, 60])
    excluded = NON_RETURNABLE if rng.random() < 0.7 else rng.sample(NON_RETURNABLE, k=2)
    today = date(2026, 11, 20) + timedelta(days=rng.randint(-200, 200))
    return Customer(lang, name, rng.choice(SHOP_NAMES), window, excluded, today)


def order_number(rng: random.Random) -> str:
    return str(rng.randint(100001, 199999))


def _tracking(rng: random.Random, carrier: str) -> str:
    _, prefix, alphabet, length, suffix = CARRIERS[carrier]
    return prefix + "".join(rng.choice(alphabet) for _ in range(length)) + suffix


def _item(rng: random.Random, lang: str, product: tuple) -> Item:
    sku, category, name_en, name_zh, usd = product
    price = Decimal(usd)
    if lang != "en":
        price = (price * CNY_PER_USD).quantize(Decimal("1"))
    quantity = rng.choice([1, 1, 1, 1, 2, 3])
    return Item(sku, name_en if lang == "en" else name_zh, quantity, category, price)


def make_order(
    rng: random.Random,
    customer: Customer,
    *,
    number: str | None = None,
    status: str | None = None,
    products: list[tuple] | None = None,
) -> Order:
    """An order consistent with its status: shipped and delivered orders have parcels."""
    lang, today = customer.lang, customer.today
    status = status or rng.choice([*ORDER_STATUSES, "shipped", "delivered", "delivered"])
    products = products or rng.sample(catalogue.PRODUCTS, k=rng.choice([1, 1, 1, 2, 2, 3]))
    placed = today - timedelta(days=rng.randint(0, 2) if status in ("pending", "paid") else 0)
    if status in ("shipped", "delivered", "cancelled", "processing"):
        placed = today - timedelta(days=rng.randint(1, 60))
    order = Order(
        number or order_number(rng),
        status,
        placed,
        "USD" if lang == "en" else "CNY",
        [_item(rng, lang, p) for p in products],
    )
    if status in ("shipped", "delivered"):
        groups = [order.items]
        if len(order.items) > 1 and rng.random() < 0.25:
            groups = [order.items[:1], order.items[1:]]
        for group in groups:
            order.parcels.append(_parcel(rng, customer, order, group))
    if status == "delivered":
        _return_one_item(order)
    return order


def _return_one_item(order: Order) -> None:
    """Some delivered orders have an item in a return already, open or done, so that the corpus
    shows every reason the shop gives. Drawn from the order number, not from the dialogue's
    generator, so that every other draw stays as it was."""
    rng = random.Random(f"returned-{order.number}")
    if rng.random() < 0.25:
        item = rng.choice(order.items)
        if rng.random() < 0.6:
            item.open_rma = f"RMA-{order.number}-1"
        else:
            item.returned = item.quantity


def _parcel(rng: random.Random, customer: Customer, order: Order, items: list[Item]) -> Parcel:
    china = customer.lang != "en"
    carrier = rng.choice(
        ["sf_express", "sf_express", "china_post"] if china else list(CARRIERS)[:4]
    )
    shipped = order.placed + timedelta(days=rng.randint(1, 2))
    facilities = catalogue.CN_FACILITIES if china else catalogue.US_FACILITIES
    delivered = None
    if order.status == "delivered":
        status = "delivered"
        delivered = min(customer.today, shipped + timedelta(days=rng.randint(1, 6)))
        location, description, when = "", "Delivered", delivered
    else:
        status = rng.choice([*TRANSIT_STATUSES, "in_transit", "in_transit"])
        when = min(customer.today, shipped + timedelta(days=rng.randint(0, 3)))
        location, description = {
            "label_created": (
                "杭州仓库" if china else "Reno, NV warehouse",
                "Shipping label created",
            ),
            "in_transit": (rng.choice(facilities), "Arrived at facility"),
            "out_for_delivery": ("", "Out for delivery"),
            "exception": (
                rng.choice(facilities),
                "Address could not be verified; carrier will contact the recipient",
            ),
        }[status]
    at = f"{when.isoformat()} {rng.randint(6, 21):02d}:{rng.randint(0, 59):02d}"
    return Parcel(
        carrier,
        _tracking(rng, carrier),
        status,
        items,
        shipped,
        delivered,
        location,
        description,
        at,
    )


# --- tool results, exactly as assistant.agent.spec documents them ---


def _lines(items: list[Item]) -> list[dict]:
    return [{"sku": i.sku, "name": i.name, "quantity": i.quantity} for i in items]


def order_result(order: Order) -> dict:
    return {
        "order_number": order.number,
        "status": order.status,
        "placed_at": order.placed.isoformat(),
        "total": order.total,
        "currency": order.currency,
        "items": _lines(order.items),
        "shipments": [
            {
                "carrier": CARRIERS[p.carrier][0],
                "tracking_number": p.tracking_number,
                "status": p.status,
            }
            for p in order.parcels
        ],
    }


def recent_orders_result(orders: list[Order]) -> dict:
    return {
        "orders": [
            {
                "order_number": o.number,
                "status": o.status,
                "placed_at": o.placed.isoformat(),
                "total": o.total,
                "currency": o.currency,
                "items": [i.name for i in o.items],
            }
            for o in orders
        ]
    }


def track_result(order: Order) -> dict:
    return {
        "order_number": order.number,
        "status": order.status,
        "shipments": [
            {
                "carrier": CARRIERS[p.carrier][0],
                "tracking_number": p.tracking_number,
                "tracking_url": TRACKING_URLS[p.carrier].format(p.tracking_number),
                "status": p.status,
                "delivered_at": p.delivered.isoformat() if p.delivered else None,
                "items": [i.name for i in p.items],
                "latest_event": {
                    "status": p.status,
                    "location": p.location,
                    "description": p.description,
                    "at": p.at,
                },
            }
            for p in order.parcels
        ],
    }


def eligibility(order: Order, customer: Customer) -> list[dict]:
    """Per item: eligible or not, and the policy's reason, decided as the shop decides."""
    delivered = {id(i): p.delivered for p in order.parcels for i in p.items}
    rows = []
    for item in order.items:
        category = CATEGORY_NAMES[item.category]
        verdict = item_verdict(
            name=item.name,
            order_number=order.number,
            cancelled=order.status == "cancelled",
            delivered=delivered.get(id(item)),
            window_days=customer.window_days,
            excluded_category=category if category in customer.non_returnable else None,
            today=customer.today,
            open_rma=item.open_rma,
            remaining=item.quantity - item.returned,
        )
        rows.append(
            {
                "sku": item.sku,
                "name": item.name,
                "quantity": item.quantity,
                "eligible": verdict.eligible,
                "returnable_quantity": verdict.returnable_quantity,
                "deadline": verdict.deadline.isoformat() if verdict.deadline else None,
                "reason": verdict.reason,
            }
        )
    return rows


def eligibility_result(order: Order, customer: Customer) -> dict:
    return {
        "order_number": order.number,
        "window_days": customer.window_days,
        "items": eligibility(order, customer),
    }


@dataclass
class Return:
    rma_number: str
    order: Order
    status: str
    reason: str
    items: list[Item]
    created: date

    @property
    def refund_amount(self) -> str:
        return str(sum((i.price * i.quantity for i in self.items), Decimal("0.00")))


def return_create_result(ret: Return) -> dict:
    return {
        "rma_number": ret.rma_number,
        "status": ret.status,
        "refund_amount": ret.refund_amount,
        "currency": ret.order.currency,
        "items": _lines(ret.items),
    }


def return_status_result(ret: Return) -> dict:
    return {
        "rma_number": ret.rma_number,
        "order_number": ret.order.number,
        "status": ret.status,
        "reason": ret.reason,
        "refund_amount": ret.refund_amount,
        "currency": ret.order.currency,
        "created_at": ret.created.isoformat(),
        "items": _lines(ret.items),
    }


def make_return(rng: random.Random, customer: Customer, status: str | None = None) -> Return:
    order = make_order(rng, customer, status="delivered")
    items = order.items[:1]
    created = customer.today - timedelta(days=rng.randint(0, 20))
    return Return(
        f"RMA-{order.number}-{rng.choice([1, 1, 1, 2])}",
        order,
        status or rng.choice(RETURN_STATUSES),
        rng.choice(spec.RETURN_REASONS),
        items,
        created,
    )


def not_found(kind: str, number: str) -> dict:
    """The tool result for a number not on this customer's account, as the shop words it."""
    error = {"order": errors.order_not_found, "return": errors.return_not_found}[kind](number)
    return spec.tool_error(error.code, error.message)


HANDOFF_RESULT = {
    "status": "waiting_for_human",
    "message": "A member of our team will join this conversation shortly.",
}
