"""What every operator console page shares: who may open it, its navigation, and rendering
inside the Django admin's frame (same header, login and look)."""

from collections.abc import Callable
from dataclasses import dataclass
from functools import wraps

from django.contrib import admin
from django.contrib.admin.views.decorators import staff_member_required
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import reverse

from assistant.api import domain_status
from assistant.shop.errors import DomainError


@dataclass(frozen=True)
class NavItem:
    label: str
    url_name: str
    permission: str | None  # None: every staff member


# Operators have the view permissions and may act on conversations and safety reviews; admins
# (superusers) may also edit keyword lists, the constitution and canned responses.
NAV = [
    NavItem("Conversations", "console:conversations", "conversations.view_conversation"),
    NavItem("Safety review", "console:safety", "safety.view_safetyverdict"),
    NavItem("Keyword lists", "admin:safety_keywordterm_changelist", "safety.view_keywordterm"),
    NavItem("Constitution", "admin:safety_principle_changelist", "safety.view_principle"),
    NavItem(
        "Canned responses",
        "admin:conversations_cannedresponse_changelist",
        "conversations.view_cannedresponse",
    ),
    NavItem("Fine-tuning", "console:finetune", "finetune.view_finetunejob"),
    NavItem("IDE usage", "console:ide", "ide.view_completion"),
    NavItem("Model server", "console:model", None),
]


def nav_for(request: HttpRequest) -> list[dict]:
    items = [
        {"label": item.label, "url": reverse(item.url_name), "current": False}
        for item in NAV
        if item.permission is None or request.user.has_perm(item.permission)
    ]
    # The page belongs to the entry with the longest URL it starts with (/console/ is a prefix
    # of every console page).
    matches = [item for item in items if request.path.startswith(item["url"])]
    if matches:
        max(matches, key=lambda item: len(item["url"]))["current"] = True
    return items


def console_view(permission: str | None) -> Callable:
    """Staff only (others go to the admin's login page); `permission` on top, else 403."""

    def decorate(view: Callable) -> Callable:
        @staff_member_required
        @wraps(view)
        def wrapped(request: HttpRequest, *args, **kwargs) -> HttpResponse:
            if permission and not request.user.has_perm(permission):
                raise PermissionDenied(f"Your account lacks the {permission!r} permission.")
            return view(request, *args, **kwargs)

        return wrapped

    return decorate


def render_console(
    request: HttpRequest,
    template: str,
    context: dict,
    *,
    error: DomainError | None = None,
) -> HttpResponse:
    """A console page; with `error`, the same page showing the error, with its HTTP status."""
    context = {
        **admin.site.each_context(request),
        "is_nav_sidebar_enabled": False,
        **context,
        "error": error.message if error else "",
    }
    return render(request, template, context, status=domain_status(error) if error else 200)
