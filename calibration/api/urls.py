from django.urls import include, path

urlpatterns = [
    path("", include("calibration.api.pipeline_urls")),
    path("", include("calibration.api.patterns_urls")),
    path("", include("calibration.api.registry_urls")),
    path("", include("calibration.api.reports_urls")),
]
