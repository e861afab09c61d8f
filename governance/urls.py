from django.contrib import admin
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView

from governance.api.docs import RedocView

# "View site" leads somewhere real: the API documentation of the governed systems' side.
admin.site.site_url = "/api/docs/"

# A refused admin page is a designed page that names the permission and links back.
handler403 = "governance.pages.permission_denied"

urlpatterns = [
    # Reviewer pages (control-room charts, diff and decide) inside the admin's login.
    path("admin/govloop/", include("governance.pages")),
    path("admin/govloop/calibration/", include("calibration.pages")),
    path("admin/govloop/learning/", include("learning.pages")),
    path("admin/govloop/tripwire/", include("tripwire.pages")),
    path("admin/", admin.site.urls),
    path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
    # The split view serves its start-up script from our origin too (no inline script).
    path("api/docs/", SpectacularSwaggerSplitView.as_view(url_name="schema"), name="swagger-ui"),
    path("api/redoc/", RedocView.as_view(url_name="schema"), name="redoc"),
    # The seed's regression endpoints live under /api/governance/ but belong to tripwire.
    path("api/governance/regression/", include("tripwire.api.urls")),
    path("api/governance/", include("governance.api.urls")),
    path("api/calibration/", include("calibration.api.urls")),
    path("api/learning/", include("learning.api.urls")),
    path("api/tripwire/", include("tripwire.api.drift_urls")),
]
