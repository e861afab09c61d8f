from django.urls import path

from learning.api import events_views as views

urlpatterns = [
    path("events", views.EventsView.as_view(), name="learning-events"),
    path("events/batch", views.EventBatchView.as_view(), name="learning-events-batch"),
    path("stats", views.StatsView.as_view(), name="learning-stats"),
    path("config", views.EngineConfigView.as_view(), name="learning-config"),
    path(
        "reports/confidence-filter",
        views.ConfidenceFilterReportView.as_view(),
        name="learning-confidence-filter-report",
    ),
]
