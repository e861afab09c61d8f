import pytest
from django.urls import reverse
from django.utils import timezone

from governance.control_room import collect_panels
from learning.demo import POLICY_NAME, seed
from learning.models import BacktestRun, LearnedPolicy, PolicyState
from learning.selectors_proofs import current_regret_score

pytestmark = pytest.mark.django_db


@pytest.fixture
def seeded(tenant, reviewer):
    now = timezone.now()
    seed(tenant=tenant, now=now)
    return now


def test_the_demo_leaves_a_policy_close_to_demotion_and_a_failing_case(tenant, seeded):
    seed(tenant=tenant, now=seeded)  # twice: nothing more

    policy = LearnedPolicy.objects.get(tenant=tenant, name=POLICY_NAME)
    assert policy.state == PolicyState.ACTIVE
    assert (
        0.7 * policy.auto_demote_score
        < current_regret_score(policy=policy)
        < policy.auto_demote_score
    )
    runs = list(BacktestRun.objects.filter(tenant=tenant).order_by("started_at"))
    assert len(runs) == 4
    assert runs[0].pass_rate == 1.0
    assert runs[-1].miss_count == 1


def test_the_control_room_shows_the_gates_the_policy_and_the_last_run(tenant, seeded):
    panels = {p.key: p for p in collect_panels(tenant=tenant)}

    gates = panels["graduation"].rows
    assert gates[0].value == "passed" and gates[1].value == "open"
    regret = panels["regret"].rows[0]
    assert regret.label == POLICY_NAME and regret.tone == "warn"
    assert panels["loop"].rows[0].value == f"{7 / 8:.0%} pass"


def test_the_regret_page_draws_the_demotion_line(client, tenant, reviewer, seeded):
    policy = LearnedPolicy.objects.get(tenant=tenant, name=POLICY_NAME)
    client.force_login(reviewer)

    body = client.get(reverse("govloop-regret", args=[policy.pk])).content.decode()

    assert "auto-demote at 10" in body


def test_the_backtest_page_plots_every_run(client, tenant, reviewer, seeded):
    client.force_login(reviewer)

    body = client.get(reverse("govloop-backtests", args=[tenant.slug])).content.decode()

    assert body.count("run_0000") >= 4
    assert 'class="series"' in body


def test_the_demo_promotes_a_calibrator_whose_page_compares_before_and_after(
    client, tenant, reviewer, seeded
):
    from calibration.models import CalibratorVersion, ModelStage

    version = CalibratorVersion.objects.get(tenant=tenant, stage=ModelStage.PRODUCTION)
    client.force_login(reviewer)

    body = client.get(reverse("govloop-calibrator", args=[version.pk])).content.decode()

    assert "Before: raw confidence" in body and "After: calibrated probability" in body
    assert body.count('class="diagonal"') == 2
    panel = next(p for p in collect_panels(tenant=tenant) if p.key == "calibrators")
    assert panel.rows[0].label.startswith("signal-confidence v1")
