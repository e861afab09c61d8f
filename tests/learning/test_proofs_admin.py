"""Admin of the learning proofs: the policy transition buttons call the services, the
graduation dashboard and the timeline page render, and tenancy holds."""

from __future__ import annotations

import datetime as dt

import pytest
from django.test import Client

from governance.models import LedgerEntry
from governance.services.ledger import Actor
from learning.models.proofs import LearnedPolicy, PolicyState, RegretType
from learning.services import proofs as svc

MACHINE = Actor.system("worker")
T0 = dt.datetime(2026, 3, 1, 9, 0, tzinfo=dt.UTC)


@pytest.fixture
def reviewer_client(reviewer):
    client = Client()
    client.force_login(reviewer)
    return client


@pytest.fixture
def demoted(tenant, reviewer):
    incident = svc.incident_record(
        tenant=tenant,
        pattern_key="checkout-timeout",
        signature="s",
        severity=6,
        actor=MACHINE,
        now=T0,
    )
    policy = svc.policy_create_from_incident(incident=incident, name="guard", actor=MACHINE, now=T0)
    policy = svc.policy_activate(
        policy=policy, user=reviewer, reason="shadow results clean", now=T0
    )
    svc.prevention_record(
        policy=policy, outcome="PREVENTED", signature_match_confidence=0.9, actor=MACHINE, now=T0
    )
    for _ in range(3):
        svc.regret_record(
            policy=policy,
            regret_type=RegretType.ESCALATION_NOISE,
            severity=4,
            actor=MACHINE,
            now=T0,
        )
    return incident, LearnedPolicy.objects.get(pk=policy.pk)


@pytest.mark.django_db
def test_the_policy_page_offers_reinstate_and_the_button_calls_the_service(
    reviewer_client, demoted
):
    _, policy = demoted
    page = reviewer_client.get(f"/admin/learning/learnedpolicy/{policy.pk}/change/")
    assert page.status_code == 200
    body = page.content.decode()
    assert 'value="reinstate"' in body and 'value="retire"' in body
    assert 'value="activate"' not in body
    assert "escalation" in body  # the regret events inline

    response = reviewer_client.post(
        f"/admin/learning/learnedpolicy/{policy.pk}/transition/reinstate/",
        {"reason": "noise came from a broken alert route"},
    )
    assert response.status_code == 302
    policy.refresh_from_db()
    assert policy.state == PolicyState.ACTIVE and policy.regret_count == 0
    entry = LedgerEntry.objects.get(kind="learning.policy_reinstated")
    assert entry.actor == "user:rita"


@pytest.mark.django_db
def test_the_changelist_shows_regret_and_links_the_graduation_dashboard(reviewer_client, demoted):
    page = reviewer_client.get("/admin/learning/learnedpolicy/")
    assert page.status_code == 200
    body = page.content.decode()
    assert "/admin/learning/learnedpolicy/graduation/" in body
    assert "DEMOTED" in body


@pytest.mark.django_db
def test_the_graduation_dashboard_shows_the_gates_and_the_next_action(reviewer_client, demoted):
    page = reviewer_client.get("/admin/learning/learnedpolicy/graduation/")
    assert page.status_code == 200
    body = page.content.decode()
    assert "LOOP-ENABLED (2/3 gates)" in body
    assert "console proof (gate 3)" in body


@pytest.mark.django_db
def test_the_timeline_page_tells_the_story_and_records_the_console_proof(
    reviewer_client, demoted, tenant
):
    incident, _ = demoted
    url = f"/admin/learning/incident/{incident.pk}/timeline/"
    page = reviewer_client.get(url)
    assert page.status_code == 200
    body = page.content.decode()
    assert "the policy prevented a recurrence" in body
    assert "Record as console proof" in body
    assert reviewer_client.post(url).status_code == 302
    assert incident.console_proofs.get().recorded_by.username == "rita"
    page = reviewer_client.get("/admin/learning/learnedpolicy/graduation/")
    assert "LOOP-PROVEN" in page.content.decode()


@pytest.mark.django_db
def test_a_reviewer_of_another_tenant_cannot_open_the_timeline(
    demoted, make_reviewer, other_tenant
):
    incident, _ = demoted
    outsider = make_reviewer("olga", for_tenant=other_tenant)
    client = Client()
    client.force_login(outsider)
    assert client.get(f"/admin/learning/incident/{incident.pk}/timeline/").status_code == 404
