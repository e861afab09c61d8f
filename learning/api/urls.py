from django.urls import include, path

urlpatterns = [
    path("", include("learning.api.events_urls")),
    path("", include("learning.api.proofs_urls")),
    path("", include("learning.api.loop_urls")),
]
