from django import template

from governance.control_room import control_room as build_control_room

register = template.Library()


@register.simple_tag(takes_context=True)
def control_room(context):
    """The admin home's control room for the tenant named by ``?tenant=`` (or the first)."""
    request = context["request"]
    return build_control_room(user=request.user, tenant_slug=request.GET.get("tenant"))
