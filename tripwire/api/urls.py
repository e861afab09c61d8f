from django.urls import include, path

urlpatterns = [
    path("", include("tripwire.api.regression_urls")),
]
