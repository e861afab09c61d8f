from django import template

from governance.control_room import control_room as build_control_room
from governance.formatting import percentage_points, render_markdown
from governance.formatting import pretty_json as _pretty_json

register = template.Library()


@register.simple_tag(takes_context=True)
def control_room(context):
    """The admin home's control room for the tenant named by ``?tenant=`` (or the first)."""
    request = context["request"]
    return build_control_room(user=request.user, tenant_slug=request.GET.get("tenant"))


@register.filter
def pretty_json(value):
    """A JSON value (a ledger payload) as an indented block, never a Python repr."""
    return _pretty_json(value)


@register.filter
def markdown(text):
    """The loop's Markdown reports rendered (escaped first: safe whatever the text holds)."""
    return render_markdown(text or "")


@register.filter
def pp(delta):
    """A difference of two rates in percentage points: 0.142857 -> "+14.3 pp"."""
    return percentage_points(delta) if isinstance(delta, int | float) else delta


@register.filter
def rate(value):
    """A rate as a percentage: 0.857143 -> "85.7%"."""
    return f"{value:.1%}" if isinstance(value, int | float) else value
