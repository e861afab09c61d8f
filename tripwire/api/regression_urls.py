"""The seed's paths, exactly (no trailing slashes), under /api/governance/regression/."""

from django.urls import path

from tripwire.api import regression_views as v

urlpatterns = [
    path("policies", v.PoliciesView.as_view(), name="regression-policies"),
    path("policies/upsert", v.PolicyUpsertView.as_view(), name="regression-policy-upsert"),
    path("state", v.StateView.as_view(), name="regression-state"),
    path("evaluate", v.EvaluateView.as_view(), name="regression-evaluate"),
    path("kpi", v.KPIView.as_view(), name="regression-kpi"),
    path("kpi/batch", v.KPIBatchView.as_view(), name="regression-kpi-batch"),
    path("acknowledge", v.AcknowledgeView.as_view(), name="regression-acknowledge"),
]
