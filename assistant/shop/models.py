"""The shop's domain: customers, catalogue, orders, shipments and returns.

Status fields move only along the graphs in each model's TRANSITIONS; services.py is the
one place that changes them. Amounts are Decimal in the order's currency.
"""

from decimal import Decimal

from django.conf import settings
from django.db import models
from django.db.models import Q


class Currency(models.TextChoices):
    USD = "USD", "US dollar"
    EUR = "EUR", "Euro"
    CNY = "CNY", "Chinese yuan"


class Locale(models.TextChoices):
    EN = "en", "English"
    ZH = "zh-hans", "简体中文"


def money_field(**kwargs) -> models.DecimalField:
    return models.DecimalField(max_digits=12, decimal_places=2, **kwargs)


class Customer(models.Model):
    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="customer"
    )
    # The shop platform's own customer id: what its signed identity tokens carry.
    external_id = models.CharField(max_length=64, unique=True)
    name = models.CharField(max_length=200)
    email = models.EmailField()
    phone = models.CharField(max_length=32, blank=True)
    locale = models.CharField(max_length=8, choices=Locale.choices, default=Locale.EN)
    created_at = models.DateTimeField()

    def __str__(self) -> str:
        return f"{self.name} ({self.external_id})"


class Category(models.Model):
    slug = models.SlugField(unique=True)
    name = models.CharField(max_length=100)
    name_zh = models.CharField(max_length=100)

    class Meta:
        verbose_name_plural = "categories"
        ordering = ["slug"]

    def __str__(self) -> str:
        return self.name


class Product(models.Model):
    sku = models.CharField(max_length=32, unique=True)
    name = models.CharField(max_length=200)
    name_zh = models.CharField(max_length=200)
    description = models.TextField(blank=True)
    category = models.ForeignKey(Category, on_delete=models.PROTECT, related_name="products")
    is_active = models.BooleanField(default=True)

    class Meta:
        ordering = ["sku"]

    def __str__(self) -> str:
        return f"{self.name} [{self.sku}]"

    def name_for(self, customer: Customer) -> str:
        """The name this customer sees, in tool results and the policy's reasons alike."""
        return self.name_zh if customer.locale == Locale.ZH else self.name


class ProductPrice(models.Model):
    product = models.ForeignKey(Product, on_delete=models.CASCADE, related_name="prices")
    currency = models.CharField(max_length=3, choices=Currency.choices)
    amount = money_field()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["product", "currency"], name="one_price_per_currency"),
            models.CheckConstraint(condition=Q(amount__gte=0), name="price_not_negative"),
        ]

    def __str__(self) -> str:
        return f"{self.amount} {self.currency}"


class Order(models.Model):
    class Status(models.TextChoices):
        PENDING = "pending", "Pending payment"
        PAID = "paid", "Paid"
        PROCESSING = "processing", "Processing"
        SHIPPED = "shipped", "Shipped"
        DELIVERED = "delivered", "Delivered"
        CANCELLED = "cancelled", "Cancelled"

    TRANSITIONS: dict[str, set[str]] = {
        Status.PENDING: {Status.PAID, Status.CANCELLED},
        Status.PAID: {Status.PROCESSING, Status.CANCELLED},
        Status.PROCESSING: {Status.SHIPPED, Status.CANCELLED},
        Status.SHIPPED: {Status.DELIVERED},
        Status.DELIVERED: set(),
        Status.CANCELLED: set(),
    }

    number = models.CharField(max_length=32, unique=True)
    customer = models.ForeignKey(Customer, on_delete=models.PROTECT, related_name="orders")
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.PENDING)
    currency = models.CharField(max_length=3, choices=Currency.choices)
    total = money_field()
    shipping_name = models.CharField(max_length=200)
    shipping_address = models.TextField()
    shipping_country = models.CharField(max_length=2)
    placed_at = models.DateTimeField()
    updated_at = models.DateTimeField()

    class Meta:
        ordering = ["-placed_at"]
        indexes = [models.Index(fields=["customer", "-placed_at"])]
        constraints = [
            models.CheckConstraint(condition=Q(total__gte=0), name="order_total_not_negative")
        ]

    def __str__(self) -> str:
        return f"Order {self.number}"


class Shipment(models.Model):
    class Carrier(models.TextChoices):
        UPS = "ups", "UPS"
        FEDEX = "fedex", "FedEx"
        DHL = "dhl", "DHL Express"
        USPS = "usps", "USPS"
        SF_EXPRESS = "sf_express", "SF Express"
        CHINA_POST = "china_post", "China Post"

    TRACKING_URLS = {
        Carrier.UPS: "https://www.ups.com/track?tracknum={}",
        Carrier.FEDEX: "https://www.fedex.com/fedextrack/?trknbr={}",
        Carrier.DHL: "https://www.dhl.com/en/express/tracking.html?AWB={}",
        Carrier.USPS: "https://tools.usps.com/go/TrackConfirmAction?tLabels={}",
        Carrier.SF_EXPRESS: "https://www.sf-express.com/chn/en/waybill/waybill-detail/{}",
        Carrier.CHINA_POST: "https://yjcx.ems.com.cn/qps/yjcx?mailNum={}",
    }

    class Status(models.TextChoices):
        LABEL_CREATED = "label_created", "Label created"
        IN_TRANSIT = "in_transit", "In transit"
        OUT_FOR_DELIVERY = "out_for_delivery", "Out for delivery"
        DELIVERED = "delivered", "Delivered"
        EXCEPTION = "exception", "Delivery exception"
        RETURNED_TO_SENDER = "returned_to_sender", "Returned to sender"

    # In transit may repeat: each scan at a new facility is an event.
    TRANSITIONS: dict[str, set[str]] = {
        Status.LABEL_CREATED: {Status.IN_TRANSIT, Status.EXCEPTION},
        Status.IN_TRANSIT: {
            Status.IN_TRANSIT,
            Status.OUT_FOR_DELIVERY,
            Status.DELIVERED,
            Status.EXCEPTION,
        },
        Status.OUT_FOR_DELIVERY: {Status.DELIVERED, Status.EXCEPTION, Status.IN_TRANSIT},
        Status.EXCEPTION: {
            Status.IN_TRANSIT,
            Status.OUT_FOR_DELIVERY,
            Status.RETURNED_TO_SENDER,
        },
        Status.DELIVERED: set(),
        Status.RETURNED_TO_SENDER: set(),
    }

    order = models.ForeignKey(Order, on_delete=models.CASCADE, related_name="shipments")
    carrier = models.CharField(max_length=16, choices=Carrier.choices)
    tracking_number = models.CharField(max_length=64)
    status = models.CharField(max_length=24, choices=Status.choices, default=Status.LABEL_CREATED)
    shipped_at = models.DateTimeField()
    delivered_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["shipped_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["carrier", "tracking_number"], name="unique_tracking_per_carrier"
            )
        ]

    def __str__(self) -> str:
        return f"{self.get_carrier_display()} {self.tracking_number}"

    @property
    def tracking_url(self) -> str:
        return self.TRACKING_URLS[self.carrier].format(self.tracking_number)


class ShipmentEvent(models.Model):
    shipment = models.ForeignKey(Shipment, on_delete=models.CASCADE, related_name="events")
    status = models.CharField(max_length=24, choices=Shipment.Status.choices)
    location = models.CharField(max_length=200, blank=True)
    description = models.CharField(max_length=300, blank=True)
    occurred_at = models.DateTimeField()

    class Meta:
        ordering = ["occurred_at", "id"]

    def __str__(self) -> str:
        return f"{self.occurred_at:%Y-%m-%d %H:%M} {self.status}"


class OrderItem(models.Model):
    order = models.ForeignKey(Order, on_delete=models.CASCADE, related_name="items")
    product = models.ForeignKey(Product, on_delete=models.PROTECT, related_name="order_items")
    quantity = models.PositiveIntegerField()
    unit_price = money_field()
    shipment = models.ForeignKey(
        Shipment, on_delete=models.SET_NULL, null=True, blank=True, related_name="items"
    )

    class Meta:
        ordering = ["id"]
        constraints = [
            models.CheckConstraint(condition=Q(quantity__gt=0), name="item_quantity_positive"),
            models.CheckConstraint(condition=Q(unit_price__gte=0), name="item_price_not_negative"),
        ]

    def __str__(self) -> str:
        return f"{self.quantity} × {self.product.sku}"

    @property
    def line_total(self) -> Decimal:
        return self.unit_price * self.quantity


class ReturnPolicy(models.Model):
    """The shop's one return policy (a single row, edited by admins)."""

    window_days = models.PositiveSmallIntegerField(
        default=30,
        help_text="Days after delivery, counted in calendar days, that a return may be opened.",
    )
    non_returnable_categories = models.ManyToManyField(Category, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name_plural = "return policy"

    def __str__(self) -> str:
        return f"Returns within {self.window_days} days of delivery"

    @classmethod
    def load(cls) -> "ReturnPolicy":
        policy, _ = cls.objects.get_or_create(pk=1)
        return policy


class ReturnRequest(models.Model):
    class Status(models.TextChoices):
        REQUESTED = "requested", "Requested"
        APPROVED = "approved", "Approved, awaiting the parcel"
        RECEIVED = "received", "Received at the warehouse"
        REFUNDED = "refunded", "Refunded"
        REJECTED = "rejected", "Rejected"
        CANCELLED = "cancelled", "Cancelled"

    OPEN = {Status.REQUESTED, Status.APPROVED, Status.RECEIVED}
    # Items of these returns no longer count against what may still be returned.
    VOID = {Status.REJECTED, Status.CANCELLED}
    TRANSITIONS: dict[str, set[str]] = {
        Status.REQUESTED: {Status.APPROVED, Status.REJECTED, Status.CANCELLED},
        Status.APPROVED: {Status.RECEIVED, Status.CANCELLED},
        Status.RECEIVED: {Status.REFUNDED, Status.REJECTED},
        Status.REFUNDED: set(),
        Status.REJECTED: set(),
        Status.CANCELLED: set(),
    }

    class Reason(models.TextChoices):
        DAMAGED = "damaged", "Arrived damaged or defective"
        WRONG_ITEM = "wrong_item", "Wrong item sent"
        NOT_AS_DESCRIBED = "not_as_described", "Not as described"
        SIZE_FIT = "size_fit", "Size or fit"
        NO_LONGER_NEEDED = "no_longer_needed", "No longer needed"
        OTHER = "other", "Other"

    rma_number = models.CharField(max_length=48, unique=True)
    customer = models.ForeignKey(Customer, on_delete=models.PROTECT, related_name="returns")
    order = models.ForeignKey(Order, on_delete=models.PROTECT, related_name="returns")
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.REQUESTED)
    reason = models.CharField(max_length=24, choices=Reason.choices)
    detail = models.TextField(blank=True)
    refund_amount = money_field()
    currency = models.CharField(max_length=3, choices=Currency.choices)
    created_at = models.DateTimeField()
    updated_at = models.DateTimeField()
    resolved_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.CheckConstraint(condition=Q(refund_amount__gte=0), name="refund_not_negative")
        ]

    def __str__(self) -> str:
        return self.rma_number


class ReturnItem(models.Model):
    return_request = models.ForeignKey(
        ReturnRequest, on_delete=models.CASCADE, related_name="items"
    )
    order_item = models.ForeignKey(OrderItem, on_delete=models.PROTECT, related_name="return_items")
    quantity = models.PositiveIntegerField()

    class Meta:
        constraints = [
            models.CheckConstraint(condition=Q(quantity__gt=0), name="return_quantity_positive"),
            models.UniqueConstraint(
                fields=["return_request", "order_item"], name="item_once_per_return"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.quantity} × item {self.order_item_id}"
