from django.contrib import admin

from .models import (
    Category,
    Customer,
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


@admin.register(Customer)
class CustomerAdmin(admin.ModelAdmin):
    list_display = ["external_id", "name", "email", "locale", "created_at"]
    list_filter = ["locale"]
    search_fields = ["external_id", "name", "email", "phone"]
    raw_id_fields = ["user"]


@admin.register(Category)
class CategoryAdmin(admin.ModelAdmin):
    list_display = ["slug", "name", "name_zh"]


class ProductPriceInline(admin.TabularInline):
    model = ProductPrice
    extra = 0


@admin.register(Product)
class ProductAdmin(admin.ModelAdmin):
    list_display = ["sku", "name", "name_zh", "category", "is_active"]
    list_filter = ["category", "is_active"]
    search_fields = ["sku", "name", "name_zh"]
    inlines = [ProductPriceInline]


class OrderItemInline(admin.TabularInline):
    model = OrderItem
    extra = 0
    raw_id_fields = ["product", "shipment"]


class ShipmentInline(admin.TabularInline):
    model = Shipment
    extra = 0
    show_change_link = True
    readonly_fields = ["status", "delivered_at"]


@admin.register(Order)
class OrderAdmin(admin.ModelAdmin):
    list_display = ["number", "customer", "status", "total", "currency", "placed_at"]
    list_filter = ["status", "currency"]
    search_fields = ["number", "customer__name", "customer__email", "customer__external_id"]
    date_hierarchy = "placed_at"
    raw_id_fields = ["customer"]
    # Status changes go through the services, which enforce the transition graph.
    readonly_fields = ["status"]
    inlines = [OrderItemInline, ShipmentInline]


class ShipmentEventInline(admin.TabularInline):
    model = ShipmentEvent
    extra = 0
    readonly_fields = ["status", "location", "description", "occurred_at"]
    can_delete = False


@admin.register(Shipment)
class ShipmentAdmin(admin.ModelAdmin):
    list_display = ["tracking_number", "carrier", "status", "order", "shipped_at", "delivered_at"]
    list_filter = ["carrier", "status"]
    search_fields = ["tracking_number", "order__number"]
    raw_id_fields = ["order"]
    readonly_fields = ["status", "delivered_at"]
    inlines = [ShipmentEventInline]


class ReturnItemInline(admin.TabularInline):
    model = ReturnItem
    extra = 0
    raw_id_fields = ["order_item"]


@admin.register(ReturnRequest)
class ReturnRequestAdmin(admin.ModelAdmin):
    list_display = [
        "rma_number",
        "customer",
        "order",
        "status",
        "reason",
        "refund_amount",
        "currency",
        "created_at",
    ]
    list_filter = ["status", "reason"]
    search_fields = ["rma_number", "order__number", "customer__name"]
    raw_id_fields = ["customer", "order"]
    readonly_fields = ["status", "resolved_at"]
    inlines = [ReturnItemInline]


@admin.register(ReturnPolicy)
class ReturnPolicyAdmin(admin.ModelAdmin):
    filter_horizontal = ["non_returnable_categories"]

    def has_add_permission(self, request) -> bool:
        return not ReturnPolicy.objects.exists()

    def has_delete_permission(self, request, obj=None) -> bool:
        return False
