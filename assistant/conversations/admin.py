from django.contrib import admin
from django.urls import reverse

from .models import CannedResponse, Conversation, Message, Note, ToolCall


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


class NoteInline(admin.TabularInline):
    model = Note
    extra = 0
    can_delete = False
    fields = ["created_at", "author", "text"]
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
    inlines = [MessageInline, ToolCallInline, NoteInline]

    def view_on_site(self, obj: Conversation) -> str:
        return reverse("console:conversation", args=[obj.public_id])


@admin.register(ToolCall)
class ToolCallAdmin(admin.ModelAdmin):
    list_display = ["created_at", "name", "outcome", "latency_ms", "conversation"]
    list_filter = ["name", "outcome"]
    readonly_fields = [f.name for f in ToolCall._meta.fields]

    def has_add_permission(self, request) -> bool:
        return False


@admin.register(CannedResponse)
class CannedResponseAdmin(admin.ModelAdmin):
    list_display = ["title", "locale", "text"]
    list_filter = ["locale"]
    search_fields = ["title", "text"]
