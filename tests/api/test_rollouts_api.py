"""The rollout API and the runtime score endpoint's split (issue 18)."""

from __future__ import annotations

import pytest
from rest_framework.test import APIClient

from governance.models import LedgerEntry
from governance.services.ledger import Actor
from governance.services.rollouts import in_candidate_cohort
from governance.services.tenancy import api_token_create
from tests.factories.rollouts import STAGES, make_versions

pytestmark = pytest.mark.django_db

URL = "/api/governance/rollouts/"


@pytest.fixture
def versions(tenant, reviewer):
    return make_versions(tenant=tenant, reviewer=reviewer)


def _create(api, candidate):
    return api.post(
        URL,
        {
            "version_id": candidate.pk,
            "stages": STAGES,
            "guards": [{"metric": "success_rate", "max_relative_regression": 0.05}],
        },
        format="json",
    )


def test_a_machine_drafts_a_plan_and_only_a_reviewer_starts_it(api, reviewer_api, versions):
    _, candidate = versions
    created = _create(api, candidate)
    assert created.status_code == 201, created.json()
    rollout_id = created.json()["id"]

    refused = api.post(f"{URL}{rollout_id}/start/", {"reason": "go"}, format="json")
    started = reviewer_api.post(f"{URL}{rollout_id}/start/", {"reason": "canary"}, format="json")

    assert refused.status_code == 403
    assert started.status_code == 200, started.json()
    body = started.json()
    assert body["state"] == "RUNNING" and body["percent"] == 5
    assert body["approved_by"] == "rita" and body["baseline"] == "1.0.0"
    assert reviewer_api.get(f"{URL}{rollout_id}/").json()["candidate"] == "1.1.0"


def test_the_score_endpoint_follows_the_split_and_names_the_version(api, reviewer_api, versions):
    _, candidate = versions
    rollout_id = _create(api, candidate).json()["id"]
    reviewer_api.post(f"{URL}{rollout_id}/start/", {"reason": "canary"}, format="json")
    ids = [f"case-{i}" for i in range(200)]
    exposed = next(
        c for c in ids if in_candidate_cohort(rollout_id=rollout_id, client_id=c, percent=5)
    )
    held = next(
        c for c in ids if not in_candidate_cohort(rollout_id=rollout_id, client_id=c, percent=5)
    )

    def served(client_id):
        response = api.post(
            "/api/calibration/score",
            {"features": {"risk_signal": 0.5}, "client_id": client_id},
            format="json",
        )
        assert response.status_code == 200, response.json()
        return response.json()

    assert served(exposed)["version"]["version"] == "1.1.0"
    assert served(exposed)["rollout"] == {"id": rollout_id, "percent": 5, "cohort": "candidate"}
    assert served(held)["version"]["version"] == "1.0.0"
    assert served(held)["rollout"]["cohort"] == "baseline"

    reviewer_api.post(f"{URL}{rollout_id}/abort/", {"reason": "stop"}, format="json")

    assert served(exposed)["version"]["version"] == "1.0.0"


def test_pause_resume_abort_need_a_reason_and_land_on_the_ledger(
    api, reviewer_api, versions, tenant
):
    _, candidate = versions
    rollout_id = _create(api, candidate).json()["id"]
    reviewer_api.post(f"{URL}{rollout_id}/start/", {"reason": "canary"}, format="json")

    no_reason = reviewer_api.post(f"{URL}{rollout_id}/pause/", {}, format="json")
    paused = reviewer_api.post(f"{URL}{rollout_id}/pause/", {"reason": "peak"}, format="json")
    resumed = reviewer_api.post(f"{URL}{rollout_id}/resume/", {"reason": "ok"}, format="json")
    aborted = reviewer_api.post(f"{URL}{rollout_id}/abort/", {"reason": "no"}, format="json")

    assert no_reason.status_code == 400
    assert [paused.json()["state"], resumed.json()["state"], aborted.json()["state"]] == [
        "PAUSED",
        "RUNNING",
        "ABORTED",
    ]
    reasons = LedgerEntry.objects.filter(tenant=tenant, kind__startswith="rollout.").values_list(
        "payload__reason", flat=True
    )
    assert {"peak", "ok", "no"} <= set(reasons)


def test_rollouts_are_tenant_scoped(api, versions, other_tenant):
    _, candidate = versions
    rollout_id = _create(api, candidate).json()["id"]
    _, raw = api_token_create(tenant=other_tenant, name="other", actor=Actor.system("test"))
    other = APIClient()
    other.credentials(HTTP_AUTHORIZATION=f"Bearer {raw}")

    assert other.get(f"{URL}{rollout_id}/").status_code == 404


def test_the_active_config_read_follows_the_split(api, reviewer_api, versions):
    _, candidate = versions
    rollout_id = _create(api, candidate).json()["id"]
    reviewer_api.post(f"{URL}{rollout_id}/start/", {"reason": "canary"}, format="json")
    ids = [f"case-{i}" for i in range(200)]
    exposed = next(
        c for c in ids if in_candidate_cohort(rollout_id=rollout_id, client_id=c, percent=5)
    )
    held = next(
        c for c in ids if not in_candidate_cohort(rollout_id=rollout_id, client_id=c, percent=5)
    )

    def read(client_id):
        return api.get(f"/api/governance/config/scoring/active?client_id={client_id}").json()

    assert read(exposed)["version"] == "1.1.0"
    assert read(exposed)["rollout"]["cohort"] == "candidate"
    assert read(held)["version"] == "1.0.0"
    assert api.get("/api/governance/config/scoring/active").json()["version"] == "1.0.0"
