"""Admin pages of the registry, learning events and drift render, and stage buttons work."""

from __future__ import annotations

import pytest
from django.test import Client
from django.urls import reverse

from calibration.models import CalibratorVersion, ModelStage
from calibration.services import registry as services
from governance.services.ledger import Actor
from learning.services.events import events_record
from tests.factories.events import record_trades, trades
from tripwire.services.drift import drift_check, drift_set_baseline


@pytest.fixture
def version(tenant):
    record_trades(tenant, trades(600, overconfident=True))
    job = services.training_job_submit(
        tenant=tenant,
        model_name="confidence_calibrator",
        method="platt_scaling",
        min_samples=500,
        actor=Actor.system("t"),
        dispatch=False,
    )
    return services.training_job_run(job_id=job.pk).model_version


@pytest.fixture
def admin_client(reviewer):
    reviewer.is_superuser = True
    reviewer.save(update_fields=["is_superuser"])
    client = Client()
    client.force_login(reviewer)
    return client


@pytest.mark.django_db
def test_admin_pages_render(admin_client, version, tenant):
    events_record(tenant=tenant, items=[{"event_type": "risk_breach", "source_engine": "x"}])
    drift_set_baseline(
        tenant=tenant,
        model_name="confidence_calibrator",
        metrics={"a": 1.0},
        actor=Actor.system("t"),
    )
    (alert,) = drift_check(
        tenant=tenant,
        model_name="confidence_calibrator",
        current={"a": 0.5},
        actor=Actor.system("t"),
    ).alerts
    pages = [
        reverse("admin:calibration_trainingjob_changelist"),
        reverse("admin:calibration_trainingjob_change", args=[version.training_job_id]),
        reverse("admin:calibration_calibratorversion_changelist"),
        reverse("admin:calibration_calibratorversion_change", args=[version.pk]),
        reverse("admin:learning_learningevent_changelist") + "?event_type__exact=signal_accuracy",
        reverse("admin:learning_learningengineconfig_changelist"),
        reverse("admin:tripwire_driftbaseline_changelist"),
        reverse("admin:tripwire_driftalert_changelist"),
        reverse("admin:tripwire_driftalert_change", args=[alert.pk]),
    ]

    statuses = {page: admin_client.get(page).status_code for page in pages}

    assert set(statuses.values()) == {200}


@pytest.mark.django_db
def test_the_staging_button_calls_the_service(admin_client, version):
    url = reverse("admin:calibration_calibratorversion_transition", args=[version.pk, "to_staging"])

    admin_client.post(url, {"reason": "try it"})

    version.refresh_from_db()
    assert version.stage == ModelStage.STAGING


@pytest.mark.django_db
def test_the_production_button_respects_the_evaluation_gate(admin_client, version):
    url = reverse(
        "admin:calibration_calibratorversion_transition", args=[version.pk, "to_production"]
    )

    admin_client.post(url, {"reason": "no evaluation yet"})

    assert CalibratorVersion.objects.get(pk=version.pk).stage == ModelStage.DEVELOPMENT
