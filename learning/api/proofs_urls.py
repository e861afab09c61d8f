from django.urls import include, path
from rest_framework.routers import DefaultRouter

from learning.api import proofs_views as views

router = DefaultRouter(trailing_slash=True)
router.include_root_view = False
router.register("patterns", views.PatternViewSet, basename="learning-pattern")
router.register("incidents", views.IncidentViewSet, basename="learning-incident")
router.register("policies", views.PolicyViewSet, basename="learning-policy")
router.register("preventions", views.PreventionViewSet, basename="learning-prevention")
router.register("regret-events", views.RegretEventViewSet, basename="learning-regret-event")

urlpatterns = [
    path("graduation/", views.GraduationView.as_view(), name="learning-graduation"),
    path("", include(router.urls)),
]
