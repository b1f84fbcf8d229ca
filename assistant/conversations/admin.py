from django.contrib import admin

from .models import Conversation, Message, ToolCall


class MessageInline(admin.TabularInline):
    model = Message
    extra = 0
    can_delete = False
    fields = [
        "created_at",
        "role",
        "status",
        "content",
        "reasoning",
        "tool_calls",
        "latency_ms",
        "safety_verdict_id",
    ]
    readonly_fields = fields


class ToolCallInline(admin.TabularInline):
    model = ToolCall
    extra = 0
    can_delete = False
    fields = ["created_at", "name", "arguments", "outcome", "result", "latency_ms"]
    readonly_fields = fields


@admin.register(Conversation)
class ConversationAdmin(admin.ModelAdmin):
    list_display = [
        "public_id",
        "customer",
        "status",
        "locale",
        "flagged",
        "csat_rating",
        "assigned_to",
        "updated_at",
    ]
    list_filter = ["status", "locale", "flagged", "csat_rating"]
    search_fields = ["public_id", "customer__name", "customer__external_id", "messages__content"]
    raw_id_fields = ["customer", "assigned_to"]
    # Status changes go through the services (take over, hand back) so the transcript records them.
    readonly_fields = ["public_id", "visitor_id", "status", "created_at", "updated_at"]
    inlines = [MessageInline, ToolCallInline]


@admin.register(ToolCall)
class ToolCallAdmin(admin.ModelAdmin):
    list_display = ["created_at", "name", "outcome", "latency_ms", "conversation"]
    list_filter = ["name", "outcome"]
    readonly_fields = [f.name for f in ToolCall._meta.fields]

    def has_add_permission(self, request) -> bool:
        return False
