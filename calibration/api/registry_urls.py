from django.urls import include, path
from rest_framework.routers import SimpleRouter

from calibration.api import registry_views as views

router = SimpleRouter(trailing_slash=True)
router.register("training-jobs", views.TrainingJobViewSet, basename="training-job")
router.register("model-versions", views.ModelVersionViewSet, basename="model-version")

urlpatterns = [
    path("calibrate", views.CalibrateView.as_view(), name="calibration-calibrate"),
    path("", include(router.urls)),
]
