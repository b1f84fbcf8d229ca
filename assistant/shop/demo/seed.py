"""Build the demo shop: deterministic for a given seed and anchor date.

History (orders, shipments, carrier scans) is bulk-loaded as a shop platform's import
would be; returns go through `return_create`/`return_transition`, so every seeded return
satisfies the return policy at the time it was opened.
"""

import json
import random
import secrets
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group, Permission
from django.db import transaction

from assistant.ide.models import ApiToken
from assistant.ide.services import api_token_authenticate, api_token_create

from ..models import (
    Category,
    Customer,
    Locale,
    Order,
    OrderItem,
    Product,
    ProductPrice,
    ReturnItem,
    ReturnPolicy,
    ReturnRequest,
    Shipment,
    ShipmentEvent,
)
from ..services import ReturnLine, return_create, return_transition
from . import catalogue as c

CNY_PER_USD = Decimal("7.1")
FIRST_CUSTOMER = "cus_00001"
OPERATORS_GROUP = "Operators"


@dataclass
class SeedReport:
    created: bool
    counts: dict[str, int]
    credentials: dict = field(default_factory=dict)


def credentials_path():
    return settings.VAR_DIR / "demo-credentials.json"


def seed_demo(*, customers: int, seed: int, today: date, reset: bool = False) -> SeedReport:
    if reset:
        delete_demo_shop()
    created = False
    if not Customer.objects.filter(external_id=FIRST_CUSTOMER).exists():
        with transaction.atomic():
            _Builder(rng=random.Random(seed), today=today).build(customers)
        created = True
    return SeedReport(created=created, counts=_counts(), credentials=ensure_staff_credentials())


def _counts() -> dict[str, int]:
    return {
        "customers": Customer.objects.count(),
        "products": Product.objects.count(),
        "orders": Order.objects.count(),
        "shipments": Shipment.objects.count(),
        "returns": ReturnRequest.objects.count(),
    }


@transaction.atomic
def delete_demo_shop() -> None:
    ReturnItem.objects.all().delete()
    ReturnRequest.objects.all().delete()
    Order.objects.all().delete()  # cascades to items, shipments and their events
    users = list(Customer.objects.values_list("user_id", flat=True))
    Customer.objects.all().delete()
    get_user_model().objects.filter(id__in=users).delete()
    Product.objects.all().delete()
    Category.objects.all().delete()


def operators_group_ensure() -> Group:
    """Operators see the shop, the conversations, the safety lists and the IDE reports; they
    take over conversations, write notes and review safety verdicts. Editing keyword lists, the
    constitution and canned responses, and running or deploying fine-tuning jobs, is for admins
    (superusers)."""
    operators, _ = Group.objects.get_or_create(name=OPERATORS_GROUP)
    operators.permissions.set(
        Permission.objects.filter(
            content_type__app_label__in=["shop", "ide", "conversations", "safety", "finetune"],
            codename__startswith="view_",
        )
        | Permission.objects.filter(content_type__app_label="shop", codename="change_returnrequest")
        | Permission.objects.filter(
            content_type__app_label="conversations",
            codename="change_conversation",
        )
        | Permission.objects.filter(
            content_type__app_label="safety", codename="change_safetyverdict"
        )
    )
    return operators


def ensure_staff_credentials() -> dict:
    """The operator and admin logins and the IDE tokens, kept under var/ for local runs so
    that every `make run` can print them. Regenerated if the file and the database disagree."""
    path = credentials_path()
    stored = json.loads(path.read_text()) if path.exists() else {}
    User = get_user_model()
    result: dict = {"logins": [], "api_tokens": []}

    operators = operators_group_ensure()
    for username, superuser in (("operator", False), ("admin", True)):
        user, _ = User.objects.get_or_create(
            username=username, defaults={"email": f"{username}@shop.example"}
        )
        password = next(
            (x["password"] for x in stored.get("logins", []) if x["username"] == username), None
        )
        if password is None or not user.check_password(password):
            password = secrets.token_urlsafe(12)
            user.set_password(password)
        user.is_staff = True
        user.is_superuser = superuser
        user.save()
        if not superuser:
            user.groups.add(operators)
        result["logins"].append({"username": username, "password": password})

    for username, full_name in c.IDE_USERS:
        first, last = full_name.split(" ", 1)
        user, created = User.objects.get_or_create(
            username=username,
            defaults={"first_name": first, "last_name": last, "email": f"{username}@shop.example"},
        )
        if created:
            user.set_unusable_password()
            user.save()
        token = next(
            (x["token"] for x in stored.get("api_tokens", []) if x["username"] == username), None
        )
        if token is None or api_token_authenticate(raw=token) is None:
            ApiToken.objects.filter(user=user, name="demo").delete()
            _, token = api_token_create(user=user, name="demo")
        result["api_tokens"].append({"username": username, "token": token})

    path.write_text(json.dumps(result, indent=2))
    path.chmod(0o600)
    return result


class _Builder:
    def __init__(self, *, rng: random.Random, today: date) -> None:
        self.rng = rng
        self.now = datetime.combine(today, time(12, 0), tzinfo=UTC)
        self.tracking_numbers: set[str] = set()

    def build(self, customer_count: int) -> None:
        self.products = self._catalogue()
        customers = self._customers(customer_count)
        delivered = self._orders(customers)
        self._returns(delivered)

    def _catalogue(self) -> list[Product]:
        categories = {
            slug: Category.objects.create(slug=slug, name=name, name_zh=name_zh)
            for slug, name, name_zh, _ in c.CATEGORIES
        }
        policy = ReturnPolicy.load()
        policy.window_days = 30
        policy.save()
        policy.non_returnable_categories.set(
            [categories[slug] for slug, *_, returnable in c.CATEGORIES if not returnable]
        )
        products = []
        for sku, slug, name, name_zh, usd in c.PRODUCTS:
            product = Product.objects.create(
                sku=sku, name=name, name_zh=name_zh, category=categories[slug]
            )
            ProductPrice.objects.create(product=product, currency="USD", amount=Decimal(usd))
            cny = (Decimal(usd) * CNY_PER_USD).quantize(Decimal("1"))
            ProductPrice.objects.create(product=product, currency="CNY", amount=cny)
            product.price = {"USD": Decimal(usd), "CNY": cny}
            products.append(product)
        return products

    def _customers(self, count: int) -> list[Customer]:
        rng, User = self.rng, get_user_model()
        rows = []
        for n in range(1, count + 1):
            chinese = n % 5 in (2, 4)  # 40% Chinese-speaking customers, interleaved
            if chinese:
                (surname, s_py), (given, g_py) = rng.choice(c.ZH_SURNAMES), rng.choice(c.ZH_GIVEN)
                name, email = surname + given, f"{s_py}.{g_py}{n}@example.cn"
                phone = f"+86 1{rng.choice('3456789')}{rng.randrange(10)} {rng.randrange(10**4):04d} {rng.randrange(10**4):04d}"
                city, district, road = rng.choice(c.CN_ADDRESSES)
                address = f"{city}{district}{road}{rng.randint(1, 999)}号{rng.randint(1, 30)}栋{rng.randint(101, 2808)}室"
                rows.append((name, email, phone, Locale.ZH, address, "CN"))
            else:
                first, last = rng.choice(c.EN_FIRST), rng.choice(c.EN_LAST)
                name, email = f"{first} {last}", f"{first.lower()}.{last.lower()}{n}@example.com"
                phone = f"+1 555-01{rng.randrange(100):02d}"  # 555-01xx is reserved for fiction
                city, state, zip3 = rng.choice(c.US_CITIES)
                address = f"{rng.randint(10, 9999)} {rng.choice(c.US_STREETS)}\n{city}, {state} {zip3}{rng.randrange(100):02d}"
                rows.append((name, email, phone, Locale.EN, address, "US"))

        users = User.objects.bulk_create(
            User(username=f"cus_{n:05d}", email=row[1], password="!")  # "!": unusable password
            for n, row in enumerate(rows, start=1)
        )
        customers = Customer.objects.bulk_create(
            Customer(
                user=user,
                external_id=user.username,
                name=name,
                email=email,
                phone=phone,
                locale=locale,
                created_at=self.now - timedelta(days=rng.uniform(200, 900)),
            )
            for user, (name, email, phone, locale, _, _) in zip(users, rows, strict=True)
        )
        for customer, row in zip(customers, rows, strict=True):
            customer.address, customer.country = row[4], row[5]
        return customers

    def _tracking(self, carrier: str) -> str:
        """A unique tracking number in the carrier's usual shape."""
        prefix, alphabet, length, suffix = {
            "ups": ("1Z", "0123456789ABCDEFGHJKLMNPRTVWXY", 16, ""),
            "fedex": ("", "0123456789", 12, ""),
            "usps": ("9400", "0123456789", 18, ""),
            "dhl": ("", "0123456789", 10, ""),
            "sf_express": ("SF", "0123456789", 13, ""),
            "china_post": ("EA", "0123456789", 9, "CN"),
        }[carrier]
        while True:
            body = "".join(self.rng.choice(alphabet) for _ in range(length))
            number = prefix + body + suffix
            if number not in self.tracking_numbers:
                self.tracking_numbers.add(number)
                return number

    def _orders(self, customers: list[Customer]) -> list[Order]:
        rng, now = self.rng, self.now
        orders, items_by_order, shipments, events = [], [], [], []
        number = 100000
        for customer in customers:
            currency = "CNY" if customer.country == "CN" else "USD"
            for _ in range(rng.randint(4, 16)):
                number += 1
                placed = now - timedelta(days=rng.uniform(0, 180) ** 1.1 / 1.7)
                products = rng.sample(self.products, k=rng.choice([1, 1, 1, 2, 2, 3, 4]))
                lines = [(p, rng.choice([1, 1, 1, 1, 2, 3]), p.price[currency]) for p in products]
                order = Order(
                    number=str(number),
                    customer=customer,
                    currency=currency,
                    total=sum(price * qty for _, qty, price in lines),
                    shipping_name=customer.name,
                    shipping_address=customer.address,
                    shipping_country=customer.country,
                    placed_at=placed,
                    updated_at=placed,
                    status=Order.Status.PENDING,
                )
                orders.append(order)
                items_by_order.append(lines)

        Order.objects.bulk_create(orders, batch_size=500)
        all_items = []
        for order, lines in zip(orders, items_by_order, strict=True):
            order.item_rows = [
                OrderItem(order=order, product=p, quantity=q, unit_price=price)
                for p, q, price in lines
            ]
            all_items.extend(order.item_rows)
        OrderItem.objects.bulk_create(all_items, batch_size=1000)

        for order in orders:
            self._advance(order, shipments, events)
        Shipment.objects.bulk_create(shipments, batch_size=500)
        for event in events:
            event.shipment_id = event.shipment.id
        ShipmentEvent.objects.bulk_create(events, batch_size=1000)
        OrderItem.objects.bulk_update(
            [item for item in all_items if item.shipment is not None], ["shipment"], batch_size=1000
        )
        Order.objects.bulk_update(orders, ["status", "updated_at"], batch_size=500)
        return [order for order in orders if order.status == Order.Status.DELIVERED]

    def _advance(self, order: Order, shipments: list, events: list) -> None:
        """Walk one order along its lifecycle up to `now`, as the platform would have."""
        rng, now = self.rng, self.now
        age = now - order.placed_at
        if rng.random() < 0.04:
            order.status, order.updated_at = (
                Order.Status.CANCELLED,
                order.placed_at + timedelta(hours=rng.uniform(1, 20)),
            )
            return
        if age < timedelta(hours=3) and rng.random() < 0.5:
            return  # still waiting for payment
        order.status, order.updated_at = Order.Status.PAID, order.placed_at + timedelta(minutes=2)
        if age < timedelta(hours=12):
            return
        order.status, order.updated_at = (
            Order.Status.PROCESSING,
            order.placed_at + timedelta(hours=10),
        )

        items = order.item_rows
        split = len(items) > 1 and rng.random() < 0.2
        parcels = [items[: len(items) // 2], items[len(items) // 2 :]] if split else [items]
        china = order.shipping_country == "CN"
        delivered_all = True
        shipped_any = False
        for parcel in parcels:
            shipped_at = order.placed_at + timedelta(hours=rng.uniform(14, 60))
            if shipped_at > now:
                delivered_all = False
                continue
            carrier = rng.choice(
                ["sf_express", "sf_express", "china_post"]
                if china
                else ["ups", "fedex", "usps", "dhl"]
            )
            shipment = Shipment(
                order=order,
                carrier=carrier,
                tracking_number=self._tracking(carrier),
                shipped_at=shipped_at,
                status=Shipment.Status.LABEL_CREATED,
            )
            shipments.append(shipment)
            shipped_any = True
            for item in parcel:
                item.shipment = shipment
            delivered = self._scans(shipment, china, events)
            delivered_all = delivered_all and delivered
        if not shipped_any:
            return
        if all(item.shipment is not None for item in items):
            order.status, order.updated_at = (
                Order.Status.SHIPPED,
                max(i.shipment.shipped_at for i in items),
            )
            if delivered_all:
                order.status = Order.Status.DELIVERED
                order.updated_at = max(i.shipment.delivered_at for i in items)

    def _scans(self, shipment: Shipment, china: bool, events: list) -> bool:
        rng, now = self.rng, self.now
        facilities = c.CN_FACILITIES if china else c.US_FACILITIES
        transit_days = rng.uniform(1, 3) if china else rng.uniform(2, 6)
        deliver_at = shipment.shipped_at + timedelta(days=transit_days)
        origin = "杭州仓库" if china else "Reno, NV warehouse"
        plan = [
            (shipment.shipped_at, Shipment.Status.LABEL_CREATED, origin, "Shipping label created")
        ]
        hops = rng.sample(facilities, k=rng.randint(1, 3))
        for i, hop in enumerate(hops, start=1):
            at = shipment.shipped_at + timedelta(days=transit_days * i / (len(hops) + 1))
            plan.append((at, Shipment.Status.IN_TRANSIT, hop, "Arrived at facility"))
        if rng.random() < 0.03:
            at = deliver_at - timedelta(hours=6)
            plan.append(
                (
                    at,
                    Shipment.Status.EXCEPTION,
                    hops[-1],
                    "Address could not be verified; carrier will contact the recipient",
                )
            )
        else:
            plan.append(
                (
                    deliver_at - timedelta(hours=5),
                    Shipment.Status.OUT_FOR_DELIVERY,
                    "",
                    "Out for delivery",
                )
            )
            plan.append((deliver_at, Shipment.Status.DELIVERED, "", "Delivered"))
        for at, status, location, description in plan:
            if at > now:
                break
            events.append(
                ShipmentEvent(
                    shipment=shipment,
                    status=status,
                    location=location,
                    description=description,
                    occurred_at=at,
                )
            )
            shipment.status = status
            if status == Shipment.Status.DELIVERED:
                shipment.delivered_at = at
        return shipment.status == Shipment.Status.DELIVERED

    def _returns(self, delivered: list[Order]) -> None:
        rng, now = self.rng, self.now
        excluded = set(ReturnPolicy.load().non_returnable_categories.values_list("id", flat=True))
        for order in delivered:
            if rng.random() > 0.1:
                continue
            candidates = [i for i in order.item_rows if i.product.category_id not in excluded]
            if not candidates:
                continue
            item = rng.choice(candidates)
            opened = item.shipment.delivered_at + timedelta(days=rng.uniform(0.5, 29))
            if opened > now:
                continue
            reason = rng.choice(ReturnRequest.Reason.values)
            details = c.RETURN_DETAILS_ZH if order.currency == "CNY" else c.RETURN_DETAILS_EN
            rma = return_create(
                customer=order.customer,
                order_number=order.number,
                lines=[ReturnLine(order_item_id=item.id, quantity=item.quantity)],
                reason=reason,
                detail=details[reason],
                now=opened,
            )
            days = (now - opened).days
            path = [ReturnRequest.Status.APPROVED] if days >= 2 else []
            if days >= 6:
                path.append(ReturnRequest.Status.RECEIVED)
            if days >= 10:
                path.append(
                    rng.choices(
                        [ReturnRequest.Status.REFUNDED, ReturnRequest.Status.REJECTED], [9, 1]
                    )[0]
                )
            if days >= 3 and rng.random() < 0.05:
                path = [ReturnRequest.Status.CANCELLED]
            for step, status in enumerate(path, start=1):
                return_transition(
                    return_request=rma, to_status=status, now=opened + timedelta(days=step * 2)
                )
