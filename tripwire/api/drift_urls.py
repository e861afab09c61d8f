from django.urls import include, path
from rest_framework.routers import SimpleRouter

from tripwire.api import drift_views as views

router = SimpleRouter(trailing_slash=True)
router.register("drift/baselines", views.BaselineViewSet, basename="drift-baseline")
router.register("drift/alerts", views.AlertViewSet, basename="drift-alert")

urlpatterns = [
    path("drift/check", views.CheckView.as_view(), name="drift-check"),
    path("", include(router.urls)),
]
