import json

from django import template

from frontend.console import nav_for

register = template.Library()


@register.inclusion_tag("frontend/console/_nav.html", takes_context=True)
def console_nav(context) -> dict:
    return {"items": nav_for(context["request"])}


@register.filter
def pretty_json(value) -> str:
    """Tool arguments (a JSON string as the model wrote it) or results (JSON values), indented."""
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except json.JSONDecodeError:
            return value
    return json.dumps(value, indent=2, ensure_ascii=False)


@register.filter
def percent(value: float | None) -> str:
    return "—" if value is None else f"{value:.0%}"


@register.filter
def person(user) -> str:
    """A staff member as customers and colleagues know them: full name, else username."""
    return (user.get_full_name() or user.get_username()) if user else ""
