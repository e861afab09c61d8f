from django.urls import include, path
from rest_framework.routers import SimpleRouter

from learning.api import loop_views

router = SimpleRouter(trailing_slash=True)
router.register("backtest-cases", loop_views.BacktestCaseViewSet, basename="backtest-case")
router.register("backtest-runs", loop_views.BacktestRunViewSet, basename="backtest-run")
router.register("failure-analyses", loop_views.FailureAnalysisViewSet, basename="failure-analysis")
router.register("loop-proposals", loop_views.LoopProposalViewSet, basename="loop-proposal")
router.register("sandbox-runs", loop_views.SandboxRunViewSet, basename="sandbox-run")

urlpatterns = [path("", include(router.urls))]
