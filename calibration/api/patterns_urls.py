from django.urls import path

from calibration.api import patterns_views as views

urlpatterns = [
    path("patterns/outcomes", views.PatternOutcomesView.as_view(), name="pattern-outcomes"),
    path("patterns/band", views.PatternBandView.as_view(), name="pattern-band"),
    path("patterns/report", views.ConfidenceReportView.as_view(), name="pattern-report"),
]
