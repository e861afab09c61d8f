from django.urls import include, path
from rest_framework.routers import DefaultRouter

from governance.api import settings_views, views
from governance.api.rollouts import RolloutViewSet

router = DefaultRouter(trailing_slash=True)
router.register("config-versions", views.ConfigVersionViewSet, basename="config-version")
router.register("checkpoints", views.CheckpointViewSet, basename="checkpoint")
router.register("rollback-reports", views.RollbackReportViewSet, basename="rollback-report")
router.register(
    "settings-changes", settings_views.SettingsChangeViewSet, basename="settings-change"
)
router.register("rollouts", RolloutViewSet, basename="rollout")

urlpatterns = [
    path("config/<slug:family>/active", views.ActiveConfigView.as_view(), name="active-config"),
    path("", include("governance.api.levers_urls")),
    path("", include(router.urls)),
]
