import datetime as dt
import io
import json

import numpy as np
import pytest
from django.core.cache import cache
from django.core.management import CommandError, call_command

from calibration.models import CalibrationReport, ConfigProposal, MetricsSnapshot, ProposalStatus
from governance.models import ConfigVersion, VersionState
from governance.selectors import active_config
from governance.services.versions import version_activate, version_approve, version_rollback
from tests.calibration.conftest import one_feature_payload
from tests.factories.calibration import make_decisions


def crowded(tenant, payload):
    rng = np.random.default_rng(11)
    scores = np.concatenate([rng.uniform(0.381, 0.419, 300), rng.uniform(0, 0.999, 300)])
    yesterday = dt.datetime.now(dt.UTC) - dt.timedelta(days=1)
    make_decisions(tenant, np.round(scores, 4).tolist(), payload=payload, decided_at=yesterday)


def run(name, **options):
    out = io.StringIO()
    call_command(name, stdout=out, stderr=io.StringIO(), verbosity=0, **options)
    return out.getvalue()


@pytest.mark.postgres
@pytest.mark.django_db
def test_the_whole_workflow_runs_from_the_command_line(
    tenant, activate_scoring, reviewer, second_reviewer, tmp_path
):
    payload = one_feature_payload()
    v1 = activate_scoring(payload)
    crowded(tenant, payload)

    collected = run("collect_metrics", tenant=tenant.slug, window_days=30, output_dir=tmp_path)
    analyzed = run("analyze_calibration", tenant=tenant.slug, output_dir=tmp_path)
    proposed = run("propose_config", tenant=tenant.slug, output_dir=tmp_path)

    assert "600 decisions" in collected
    assert "findings" in analyzed
    assert "proposed scoring v1.1.0" in proposed
    files = sorted(p.name for p in (tmp_path / tenant.slug).iterdir())
    assert len(files) == 4
    assert files[0].startswith("calibration_report_") and files[2].startswith("metrics_snapshot_")
    assert (files[1], files[3]) == ("change_summary_v1.1.0.json", "scoring_config_v1.1.0.json")
    summary = json.loads((tmp_path / tenant.slug / "change_summary_v1.1.0.json").read_text())
    version = ConfigVersion.objects.get(tenant=tenant, version=summary["proposed_version"])
    assert version.state == VersionState.PENDING_APPROVAL

    version_approve(version=version, user=second_reviewer, reason="reviewed the summary")
    version_activate(version=version, user=reviewer, reason="activate")
    cache.clear()
    assert active_config(tenant_id=tenant.pk, family="scoring")["version"] == "1.1.0"
    v1.refresh_from_db()
    version_rollback(version=v1, user=reviewer, reason="back to 1.0.0")
    cache.clear()
    assert active_config(tenant_id=tenant.pk, family="scoring")["version"] == "1.0.0"


@pytest.mark.django_db
def test_calibration_pipeline_runs_all_three_phases(tenant, activate_scoring, tmp_path):
    payload = one_feature_payload()
    activate_scoring(payload)
    crowded(tenant, payload)

    output = run("calibration_pipeline", tenant=tenant.slug, output_dir=tmp_path)

    assert MetricsSnapshot.objects.filter(tenant=tenant).count() == 1
    assert CalibrationReport.objects.filter(tenant=tenant).count() == 1
    proposal = ConfigProposal.objects.get(tenant=tenant)
    assert proposal.status == ProposalStatus.PROPOSED
    assert proposal.message in output
    assert (tmp_path / tenant.slug / "scoring_config_v1.1.0.json").exists()
    assert active_config(tenant_id=tenant.pk, family="scoring")["version"] == "1.0.0"


@pytest.mark.django_db
def test_an_unknown_tenant_is_a_command_error(tenant):
    with pytest.raises(CommandError):
        run("calibration_pipeline", tenant="nope")


@pytest.mark.django_db
def test_analyze_without_a_snapshot_says_so_and_changes_nothing(tenant):
    err = io.StringIO()
    call_command("analyze_calibration", tenant=tenant.slug, stderr=err, verbosity=0)
    assert "no snapshot" in err.getvalue()
    assert not CalibrationReport.objects.exists()
