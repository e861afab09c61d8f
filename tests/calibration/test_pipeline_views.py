import pytest

from calibration.models import Decision, DecisionFlag
from governance.models import ConfigVersion, LedgerEntry
from tests.calibration.conftest import one_feature_payload
from tests.factories.calibration import DecisionFactory

SCORE = "/api/calibration/score"
DECISIONS = "/api/calibration/decisions"


def decision(client_id="run-1", **overrides):
    return {
        "client_id": client_id,
        "score": 0.82,
        "band": "HIGH",
        "confidence": 1.0,
        "escalated": False,
        "tier": "standard",
        "config_version": "1.0.0",
        "decided_at": "2026-11-20T10:00:00Z",
        "flags": [],
        **overrides,
    }


@pytest.mark.django_db
def test_the_score_endpoint_applies_the_active_version_and_names_it(api, activate_scoring):
    version = activate_scoring(one_feature_payload())
    ledger_before = LedgerEntry.objects.count()

    response = api.post(SCORE, {"features": {"x": 0.95}}, format="json")

    assert response.status_code == 200
    assert response.json() == {
        "score": 0.95,
        "band": "HIGH",
        "confidence": 1.0,
        "flags": ["x_high"],
        "escalate": True,
        "decision": "HIGH",
        "version": {"id": version.pk, "version": "1.0.0"},
    }
    assert LedgerEntry.objects.count() == ledger_before
    assert ConfigVersion.objects.get(pk=version.pk).state == "ACTIVE"


@pytest.mark.django_db
def test_the_score_endpoint_reads_the_config_from_the_cache(
    api, activate_scoring, django_assert_max_num_queries
):
    activate_scoring(one_feature_payload())
    api.post(SCORE, {"features": {"x": 0.5}}, format="json")

    # Only the token lookup (and its last-used stamp) touch the database now.
    with django_assert_max_num_queries(3):
        response = api.post(SCORE, {"features": {"x": 0.35}}, format="json")

    assert response.json()["decision"] == "LOW"


@pytest.mark.django_db
def test_the_score_endpoint_is_404_without_an_active_version(api):
    response = api.post(SCORE, {"features": {"x": 0.5}}, format="json")
    assert response.status_code == 404


@pytest.mark.parametrize(
    "body",
    [
        pytest.param({"features": {"x": "high"}}, id="non-numeric"),
        pytest.param({"features": {"x": 0.5}, "user_id": 7}, id="unknown-field"),
        pytest.param({}, id="no-features"),
        pytest.param({"features": {"x": True}}, id="boolean"),
        pytest.param({"features": {"x": 10**400}}, id="beyond-float-range"),
        pytest.param({"features": {"x": None}}, id="null"),
        pytest.param({"features": [0.5]}, id="not-an-object"),
        pytest.param({"features": {"x" * 65: 0.5}}, id="long-name"),
        pytest.param([{"features": {"x": 0.5}}], id="a-list"),
    ],
)
@pytest.mark.django_db
def test_the_score_endpoint_refuses_bad_input(api, activate_scoring, body):
    activate_scoring(one_feature_payload())
    assert api.post(SCORE, body, format="json").status_code == 400


@pytest.mark.django_db
def test_a_single_decision_is_recorded_with_its_flags(api, tenant):
    response = api.post(DECISIONS, decision(flags=["x_high"], escalated=True), format="json")

    assert response.status_code == 201
    assert response.json() == {"recorded": 1, "client_ids": ["run-1"]}
    stored = Decision.objects.get(tenant=tenant, client_id="run-1")
    assert (stored.band, stored.escalated, stored.tier) == ("HIGH", True, "standard")
    assert list(stored.flags.values_list("name", flat=True)) == ["x_high"]


@pytest.mark.django_db
def test_a_batch_is_recorded_whole(api, tenant):
    batch = [decision(f"run-{i}", flags=["a", "b"] if i % 2 else []) for i in range(50)]

    response = api.post(DECISIONS, batch, format="json")

    assert response.status_code == 201
    assert Decision.objects.filter(tenant=tenant).count() == 50
    assert DecisionFlag.objects.filter(tenant=tenant).count() == 50


@pytest.mark.django_db
def test_a_batch_carrying_a_user_email_is_refused_whole(api):
    batch = [decision("run-1"), decision("run-2", user_email="ann@example.com"), decision("run-3")]

    response = api.post(DECISIONS, batch, format="json")

    assert response.status_code == 400
    assert response.json() == {"1": {"user_email": ["unknown field"]}}
    assert Decision.objects.count() == 0


@pytest.mark.parametrize(
    "overrides",
    [
        pytest.param({"band": "customer said hello"}, id="free-text-band"),
        pytest.param({"tier": "jane.doe@example.com"}, id="email-as-tier"),
        pytest.param({"score": 1.5}, id="score-out-of-range"),
        pytest.param({"confidence": 10**400}, id="beyond-float-range"),
        pytest.param({"flags": ["a flag with spaces"]}, id="free-text-flag"),
        pytest.param({"config_version": "latest"}, id="not-a-version"),
    ],
)
@pytest.mark.django_db
def test_a_decision_with_free_text_or_bad_values_is_refused(api, overrides):
    response = api.post(DECISIONS, decision(**overrides), format="json")
    assert response.status_code == 400
    assert set(response.json()) == set(overrides)
    assert Decision.objects.count() == 0


@pytest.mark.django_db
def test_a_batch_repeating_a_client_id_is_refused_whole(api, tenant):
    DecisionFactory(tenant=tenant, client_id="taken")
    batch = [decision("fresh"), decision("taken"), decision("twice"), decision("twice")]

    response = api.post(DECISIONS, batch, format="json")

    assert response.status_code == 400
    assert set(response.json()) == {"1.client_id", "3.client_id"}
    assert Decision.objects.count() == 1


@pytest.mark.django_db
def test_the_same_client_id_is_free_in_another_tenant(api, other_tenant):
    DecisionFactory(tenant=other_tenant, client_id="run-1")
    assert api.post(DECISIONS, decision("run-1"), format="json").status_code == 201


@pytest.mark.django_db
def test_the_outcome_is_recorded_by_client_id(api, tenant):
    DecisionFactory(tenant=tenant, client_id="run-9")

    response = api.patch(f"{DECISIONS}/run-9", {"was_correct": True}, format="json")
    again = api.patch(f"{DECISIONS}/run-9", {"was_correct": True}, format="json")
    changed = api.patch(f"{DECISIONS}/run-9", {"was_correct": False}, format="json")

    assert response.status_code == 200 and response.json()["was_correct"] is True
    assert again.status_code == 200
    assert changed.status_code == 409
    assert changed.json()["current_state"] == "OUTCOME_RECORDED"


@pytest.mark.django_db
def test_another_tenants_decision_is_404(api, other_tenant):
    DecisionFactory(tenant=other_tenant, client_id="theirs")
    response = api.patch(f"{DECISIONS}/theirs", {"was_correct": True}, format="json")
    assert response.status_code == 404
    assert Decision.objects.get(client_id="theirs").was_correct is None


@pytest.mark.django_db
def test_an_outcome_with_extra_fields_is_refused(api, tenant):
    DecisionFactory(tenant=tenant, client_id="run-9")
    response = api.patch(
        f"{DECISIONS}/run-9", {"was_correct": True, "comment": "free text"}, format="json"
    )
    assert response.status_code == 400


@pytest.mark.django_db
def test_the_score_endpoint_applies_a_newly_activated_version_at_once(
    api, activate_scoring, reviewer, second_reviewer
):
    from django.core.cache import cache

    from governance.selectors import active_version
    from governance.services.ledger import Actor
    from governance.services.versions import version_activate, version_approve, version_register

    activate_scoring(one_feature_payload())
    assert api.post(SCORE, {"features": {"x": 0.5}}, format="json").json()["band"] == "MEDIUM"
    newer = version_register(
        tenant=reviewer.memberships.get().tenant,
        family="scoring",
        version="1.1.0",
        payload=one_feature_payload(thresholds=[0.3, 0.45]),
        base_version=active_version(
            tenant_id=reviewer.memberships.get().tenant_id, family="scoring"
        ),
        actor=Actor.system("test"),
        submit=True,
    )
    newer = version_approve(version=newer, user=second_reviewer, reason="ok")
    version_activate(version=newer, user=reviewer, reason="go")
    cache.clear()  # the shared cache is invalidated on commit, which a test never reaches

    response = api.post(SCORE, {"features": {"x": 0.5}}, format="json").json()

    assert (response["band"], response["version"]["version"]) == ("HIGH", "1.1.0")
