"""The API's documentation pages, served from our own static files (drf-spectacular-sidecar)."""

from drf_spectacular.utils import extend_schema
from drf_spectacular.views import SpectacularRedocView


class RedocView(SpectacularRedocView):
    """ReDoc without anything from outside our origin: the page leaves out the stock
    template's web fonts, and the policy stops the bundle's sidebar from fetching Redocly's
    logo from their CDN (the bundle hides the image when it cannot load)."""

    template_name = "api/redoc.html"

    @extend_schema(exclude=True)
    def get(self, request, *args, **kwargs):
        response = super().get(request, *args, **kwargs)
        response["Content-Security-Policy"] = "img-src 'self' data:"
        return response
