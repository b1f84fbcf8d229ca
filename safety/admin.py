"""Operator console: keyword lists, the constitution, and the verdict review queue."""

import json

from django.contrib import admin, messages
from django.http import HttpResponse

from .models import KeywordTerm, Principle, PrincipleExample, SafetyVerdict
from .selectors import overturned_examples
from .services import SafetyError, verdict_review


@admin.register(KeywordTerm)
class KeywordTermAdmin(admin.ModelAdmin):
    list_display = [
        "term",
        "language",
        "category",
        "severity",
        "action",
        "match",
        "enabled",
        "source",
    ]
    list_filter = ["language", "category", "action", "severity", "enabled", "source"]
    list_editable = ["action", "enabled"]
    search_fields = ["term", "normalized", "note"]
    readonly_fields = ["normalized", "updated_at"]


class PrincipleExampleInline(admin.TabularInline):
    model = PrincipleExample
    extra = 1


@admin.register(Principle)
class PrincipleAdmin(admin.ModelAdmin):
    list_display = ["code", "title", "applies_to", "action", "enabled", "order"]
    list_filter = ["applies_to", "action", "enabled"]
    list_editable = ["enabled", "order"]
    search_fields = ["code", "title", "description"]
    inlines = [PrincipleExampleInline]


class ReviewFilter(admin.SimpleListFilter):
    title = "review queue"
    parameter_name = "queue"

    def lookups(self, request, model_admin):
        return [("pending", "waiting for review"), ("overturned", "overturned (training data)")]

    def queryset(self, request, queryset):
        if self.value():
            return queryset.filter(review_status=self.value())
        return queryset


@admin.register(SafetyVerdict)
class SafetyVerdictAdmin(admin.ModelAdmin):
    list_display = [
        "id", "created_at", "direction", "action", "tier", "principle", "short_excerpt",
        "review_status", "expected_action",
    ]  # fmt: skip
    list_filter = [ReviewFilter, "review_status", "action", "tier", "direction", "language"]
    search_fields = ["excerpt", "reason", "principle", "text_sha256"]
    date_hierarchy = "created_at"
    readonly_fields = [f.name for f in SafetyVerdict._meta.fields if f.name not in ("review_note",)]
    actions = ["confirm", "overturn_to_allow", "overturn_to_block", "export_overturned"]

    def has_add_permission(self, request):
        return False

    @admin.display(description="excerpt")
    def short_excerpt(self, obj):
        return obj.excerpt[:80]

    def _review(self, request, queryset, **kwargs):
        done = 0
        for verdict in queryset:
            try:
                verdict_review(verdict=verdict, reviewer=request.user, **kwargs)
                done += 1
            except SafetyError as error:
                self.message_user(request, f"#{verdict.pk}: {error}", messages.WARNING)
        self.message_user(request, f"{done} verdict(s) reviewed.")

    @admin.action(description="Confirm the selected verdicts")
    def confirm(self, request, queryset):
        self._review(request, queryset, confirm=True)

    @admin.action(description="Overturn: should have been allowed")
    def overturn_to_allow(self, request, queryset):
        self._review(request, queryset, confirm=False, expected_action="allow")

    @admin.action(description="Overturn: should have been blocked")
    def overturn_to_block(self, request, queryset):
        self._review(request, queryset, confirm=False, expected_action="block")

    @admin.action(description="Download overturned verdicts as training JSONL")
    def export_overturned(self, request, queryset):
        body = "".join(json.dumps(row, ensure_ascii=False) + "\n" for row in overturned_examples())
        response = HttpResponse(body, content_type="application/jsonl; charset=utf-8")
        response["Content-Disposition"] = 'attachment; filename="safety-overturned.jsonl"'
        return response
