"""Finding 5 of issue 13 (settings half): admin saves of safety settings went around the ledger
and review. Now a change form saves through the kernel: tightening applies with a ledger entry,
loosening opens a change request, a reason is required, and the tenant is fixed once created;
the change request's page shows the diff and decides it."""

from __future__ import annotations

import pytest
from django import forms
from django.contrib.admin.models import LogEntry
from django.test import Client
from django.urls import reverse

from governance.models import (
    CheckpointConfig,
    ConfigFamily,
    LedgerEntry,
    RiskPolicy,
    SettingsChange,
)
from tests.factories.governance import UserFactory
from tests.factories.levers import RegressionPolicyFactory, RiskPolicyFactory
from tripwire.models import RegressionPolicy

pytestmark = pytest.mark.django_db


@pytest.fixture
def rita(reviewer):
    client = Client()
    client.force_login(reviewer)
    return client


@pytest.fixture
def sam(second_reviewer):
    client = Client()
    client.force_login(second_reviewer)
    return client


def _regression_form(policy, **overrides):
    form = {
        "kind": policy.kind,
        "enabled": "on" if policy.enabled else "",
        "window_events": policy.window_events,
        "baseline_events": policy.baseline_events,
        "window_days": "",
        "max_drop_fraction": policy.max_drop_fraction,
        "action": policy.action,
        "rollback_family": "",
        "significance_level": "",
        "significance_test": policy.significance_test,
        "tiers": "[]",
        "consecutive_breaches": policy.consecutive_breaches,
        "change_reason": "tuning",
    }
    form.update(overrides)
    return form


def test_raising_a_kill_switch_tripwires_max_drop_is_a_request_not_a_save(rita, tenant):
    policy = RegressionPolicyFactory(tenant=tenant, action="KILL_SWITCH", max_drop_fraction=0.2)

    response = rita.post(
        f"/admin/tripwire/regressionpolicy/{policy.pk}/change/",
        _regression_form(policy, max_drop_fraction=0.5, change_reason="too sensitive"),
    )

    change = SettingsChange.objects.get(tenant=tenant)
    assert response.status_code == 302
    assert response["Location"] == reverse(
        "admin:governance_settingschange_change", args=[change.pk]
    )
    assert RegressionPolicy.objects.get(pk=policy.pk).max_drop_fraction == 0.2
    assert (change.before, change.after) == ({"max_drop_fraction": 0.2}, {"max_drop_fraction": 0.5})
    assert (change.requested_by_label, change.reason) == ("user:rita", "too sensitive")
    assert not LedgerEntry.objects.filter(tenant=tenant, kind="settings.changed").exists()
    assert not LogEntry.objects.exists()


def test_a_settings_change_form_needs_a_reason(rita, tenant):
    policy = RegressionPolicyFactory(tenant=tenant, max_drop_fraction=0.2)

    response = rita.post(
        f"/admin/tripwire/regressionpolicy/{policy.pk}/change/",
        _regression_form(policy, max_drop_fraction=0.1, change_reason=""),
    )

    assert response.status_code == 200
    assert "change_reason" in response.context["adminform"].form.errors
    assert RegressionPolicy.objects.get(pk=policy.pk).max_drop_fraction == 0.2
    assert not LedgerEntry.objects.filter(tenant=tenant).exists()


def test_tightening_in_the_admin_applies_with_a_ledger_entry_naming_the_reviewer(rita, tenant):
    policy = RegressionPolicyFactory(tenant=tenant, max_drop_fraction=0.2)

    response = rita.post(
        f"/admin/tripwire/regressionpolicy/{policy.pk}/change/",
        _regression_form(policy, max_drop_fraction=0.1, change_reason="catch it sooner"),
    )

    assert response.status_code == 302
    assert RegressionPolicy.objects.get(pk=policy.pk).max_drop_fraction == 0.1
    entry = LedgerEntry.objects.get(tenant=tenant, kind="settings.changed")
    assert (entry.actor, entry.payload["reason"]) == ("user:rita", "catch it sooner")


def test_halving_a_familys_approvals_in_the_admin_is_a_request(rita, tenant):
    family = ConfigFamily.objects.create(tenant=tenant, name="scoring", approvals_required=2)

    rita.post(
        f"/admin/governance/configfamily/{family.pk}/change/",
        {"approvals_required": 1, "json_schema": "{}", "change_reason": "one is enough"},
    )

    assert ConfigFamily.objects.get(pk=family.pk).approvals_required == 2
    assert SettingsChange.objects.get().loosened == ["approvals_required"]


def test_changing_a_familys_json_schema_in_the_admin_is_a_request(rita, tenant):
    family = ConfigFamily.objects.create(
        tenant=tenant, name="scoring", json_schema={"type": "object", "required": ["weights"]}
    )

    rita.post(
        f"/admin/governance/configfamily/{family.pk}/change/",
        {"approvals_required": 1, "json_schema": '{"type": "object"}', "change_reason": "relax"},
    )

    assert ConfigFamily.objects.get(pk=family.pk).json_schema["required"] == ["weights"]
    assert SettingsChange.objects.get().loosened == ["json_schema"]


def test_the_tenant_of_a_settings_row_cannot_be_moved_in_the_admin(rita, tenant, other_tenant):
    family = ConfigFamily.objects.create(tenant=tenant, name="scoring")

    page = rita.get(f"/admin/governance/configfamily/{family.pk}/change/")
    rita.post(
        f"/admin/governance/configfamily/{family.pk}/change/",
        {
            "tenant": other_tenant.pk,
            "approvals_required": 2,
            "json_schema": "{}",
            "change_reason": "stricter",
        },
    )

    assert "tenant" not in page.context["adminform"].form.fields
    family.refresh_from_db()
    assert (family.tenant_id, family.approvals_required) == (tenant.pk, 2)


@pytest.mark.parametrize(
    ("field", "value", "pending"),
    [
        pytest.param("auto_approve_confidence", "0.5", True, id="auto-approve-at-0.5"),
        pytest.param("auto_dismiss_hours", "1", True, id="dismiss-after-an-hour"),
        pytest.param("max_pending", "100000", True, id="raise-max-pending"),
        pytest.param("priority_overrides", '{"tripwire_triggered": "LOW"}', True, id="demote"),
        pytest.param("max_pending", "10", False, id="lower-max-pending"),
    ],
)
def test_checkpoint_config_admin_saves_through_the_kernel(rita, tenant, field, value, pending):
    config = CheckpointConfig.objects.create(tenant=tenant)
    form = {
        "enabled_types": "[]",
        "priority_overrides": "{}",
        "auto_approve_confidence": "",
        "auto_approve_types": "[]",
        "auto_dismiss_hours": "72",
        "max_pending": "100",
        "blocking_types": "[]",
        "change_reason": "tuning the queue",
        field: value,
    }

    rita.post(f"/admin/governance/checkpointconfig/{config.pk}/change/", form)

    config.refresh_from_db()
    assert SettingsChange.objects.filter(tenant=tenant).exists() is pending
    if pending:
        assert (config.auto_approve_confidence, config.auto_dismiss_hours) == (None, 72)
        assert (config.max_pending, config.priority_overrides) == (100, {})
    else:
        assert config.max_pending == 10
        assert LedgerEntry.objects.get(tenant=tenant, kind="settings.changed").actor == "user:rita"


def test_enabling_a_risk_policy_in_its_change_form_is_a_request(rita, tenant):
    policy = RiskPolicyFactory(tenant=tenant, engine="WHOLESALE", enabled=False)

    rita.post(
        f"/admin/governance/riskpolicy/{policy.pk}/change/",
        {
            "enabled": "on",
            "max_daily_loss": policy.max_daily_loss or "",
            "max_daily_exposure": policy.max_daily_exposure or "",
            "max_daily_actions": policy.max_daily_actions or "",
            "change_reason": "back to work",
        },
    )

    assert RiskPolicy.objects.get(pk=policy.pk).enabled is False
    assert SettingsChange.objects.get().loosened == ["enabled"]


# --- the change request's page ---------------------------------------------------------------


@pytest.fixture
def change(rita, tenant):
    policy = RegressionPolicyFactory(tenant=tenant, action="KILL_SWITCH", max_drop_fraction=0.2)
    rita.post(
        f"/admin/tripwire/regressionpolicy/{policy.pk}/change/",
        _regression_form(policy, max_drop_fraction=0.5, change_reason="too sensitive"),
    )
    return SettingsChange.objects.get()


def _transition(change, name):
    return reverse("admin:governance_settingschange_transition", args=[change.pk, name])


def test_the_change_request_page_shows_the_diff_and_the_buttons(sam, change):
    page = sam.get(reverse("admin:governance_settingschange_change", args=[change.pk]))
    listing = sam.get(reverse("admin:governance_settingschange_changelist"), {"state": "PENDING"})

    assert page.status_code == 200
    content = page.content.decode()
    assert "max_drop_fraction" in content and "0.2" in content and "0.5" in content
    assert "loosens" in content and "Approve and apply" in content and "Reject" in content
    assert listing.status_code == 200 and str(change) in listing.content.decode()


def test_a_second_reviewer_approves_in_the_admin_with_a_reason(sam, change, tenant):
    response = sam.post(_transition(change, "apply"), {"reason": "agreed, it is noisy"})

    change.refresh_from_db()
    assert response.status_code == 302
    assert change.state == "APPLIED" and change.decision_reason == "agreed, it is noisy"
    assert RegressionPolicy.objects.get(tenant=tenant).max_drop_fraction == 0.5
    approved = LedgerEntry.objects.get(tenant=tenant, kind="settings.change_approved")
    assert approved.actor == "user:sam"


def test_the_requester_cannot_approve_in_the_admin(rita, change, tenant):
    rita.post(_transition(change, "apply"), {"reason": "my own"})

    change.refresh_from_db()
    assert change.state == "PENDING"
    assert RegressionPolicy.objects.get(tenant=tenant).max_drop_fraction == 0.2


def test_a_second_reviewer_rejects_in_the_admin(sam, change, tenant):
    sam.post(_transition(change, "reject"), {"reason": "keep it strict"})

    change.refresh_from_db()
    assert change.state == "REJECTED"
    assert RegressionPolicy.objects.get(tenant=tenant).max_drop_fraction == 0.2


# --- every settings admin --------------------------------------------------------------------


def _row(kind, tenant):
    from calibration.models import CalibratorRegistryConfig
    from learning.models import LearningEngineConfig
    from tests.factories.levers import CharterPolicyFactory
    from tripwire.models import DriftBaseline

    return {
        "regression": lambda: RegressionPolicyFactory(tenant=tenant),
        "risk": lambda: RiskPolicyFactory(tenant=tenant),
        "charter": lambda: CharterPolicyFactory(tenant=tenant),
        "checkpoints": lambda: CheckpointConfig.objects.create(tenant=tenant),
        "family": lambda: ConfigFamily.objects.create(tenant=tenant, name="scoring"),
        "learning": lambda: LearningEngineConfig.objects.create(tenant=tenant),
        "drift": lambda: DriftBaseline.objects.create(
            tenant=tenant, model_name="m", metrics={"accuracy": 0.8}
        ),
        "registry": lambda: CalibratorRegistryConfig.objects.create(tenant=tenant),
    }[kind]()


def _unchanged_post(form) -> dict:
    """The change form as displayed, posted back as it is."""
    data = {}
    for name, field in form.fields.items():
        value = form[name].value()
        if isinstance(field, forms.BooleanField):
            if value:
                data[name] = "on"
        else:
            data[name] = "" if value is None else value
    return data


@pytest.mark.parametrize(
    "kind",
    ["regression", "risk", "charter", "checkpoints", "family", "learning", "drift", "registry"],
)
def test_every_settings_change_form_asks_a_reason_fixes_the_tenant_and_saves_through_the_kernel(
    tenant, kind
):
    # A superuser: some settings admins are not in the reviewer group's model permissions,
    # and a superuser must not be able to move a row's tenant either.
    rita = Client()
    rita.force_login(UserFactory(is_superuser=True, is_staff=True))
    row = _row(kind, tenant)
    url = reverse(f"admin:{row._meta.app_label}_{row._meta.model_name}_change", args=[row.pk])

    page = rita.get(url)
    form = page.context["adminform"].form
    without_reason = rita.post(url, _unchanged_post(form))
    saved = rita.post(url, {**_unchanged_post(form), "change_reason": "looked, nothing to do"})

    assert page.status_code == 200
    assert form.fields["change_reason"].required and "tenant" not in form.fields
    assert without_reason.status_code == 200
    assert saved.status_code == 302, saved.context and saved.context["adminform"].form.errors
    assert not SettingsChange.objects.exists()
