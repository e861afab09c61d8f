from django.urls import include, path
from rest_framework.routers import SimpleRouter

from calibration.api import reports_views as views

router = SimpleRouter(trailing_slash=True)
router.register("snapshots", views.MetricsSnapshotViewSet, basename="metrics-snapshot")
router.register("reports", views.CalibrationReportViewSet, basename="calibration-report")
router.register("config-proposals", views.ConfigProposalViewSet, basename="config-proposal")

urlpatterns = [path("", include(router.urls))]
