from django.urls import path

from calibration.api import pipeline_views as views

urlpatterns = [
    path("score", views.ScoreView.as_view(), name="calibration-score"),
    path("decisions", views.DecisionsView.as_view(), name="calibration-decisions"),
    path(
        "decisions/<str:client_id>",
        views.DecisionOutcomeView.as_view(),
        name="calibration-decision-outcome",
    ),
]
