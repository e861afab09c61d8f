"""Finding 5 of issue 13 (the part outside the safety settings): a superuser's admin save does
not move a row to another tenant, nor edit a submitted version or a token behind the ledger."""

import pytest
from django.contrib.auth import get_user_model
from django.urls import reverse

from calibration.models import CalibratorModel
from calibration.services.registry import calibrator_model_for
from governance.models import ApiToken, ConfigVersion, LedgerEntry
from governance.services.ledger import Actor
from governance.services.tenancy import api_token_create
from governance.services.versions import version_register
from tests.factories import scoring_payload

pytestmark = pytest.mark.django_db


@pytest.fixture
def root(client):
    user = get_user_model().objects.create_superuser("root", "root@example.com", "pw")
    client.force_login(user)
    return client


def change_url(obj):
    meta = obj._meta
    return reverse(f"admin:{meta.app_label}_{meta.model_name}_change", args=[obj.pk])


def test_a_superuser_cannot_move_a_calibrator_model_to_another_tenant(root, tenant, other_tenant):
    model = calibrator_model_for(tenant=tenant, name="signal_cal")

    root.post(
        change_url(model),
        {"tenant": other_tenant.pk, "name": "signal_cal", "model_type": "signal"},
    )

    model.refresh_from_db()
    assert (model.tenant_id, model.model_type) == (tenant.pk, "signal")


def test_a_superuser_cannot_move_a_token_or_give_it_to_another_user(
    root, tenant, other_tenant, reviewer, second_reviewer
):
    token, _ = api_token_create(tenant=tenant, name="rita", user=reviewer, actor=Actor.system("t"))

    root.post(
        change_url(token),
        {"tenant": other_tenant.pk, "user": second_reviewer.pk, "name": "renamed"},
    )

    token.refresh_from_db()
    assert (token.tenant_id, token.user_id, token.name) == (tenant.pk, reviewer.pk, "rita")


def test_a_submitted_versions_description_and_base_are_not_edited_in_the_admin(
    root, tenant, author
):
    base = version_register(
        tenant=tenant,
        family="scoring",
        version="1.0.0",
        payload=scoring_payload(),
        actor=Actor.for_user(author),
    )
    version = version_register(
        tenant=tenant,
        family="scoring",
        version="1.1.0",
        payload=scoring_payload(),
        description="as submitted",
        actor=Actor.for_user(author),
        submit=True,
    )
    entries = LedgerEntry.objects.count()

    page = root.get(change_url(version))
    root.post(change_url(version), {"description": "rewritten", "base_version": base.pk})

    assert "description" not in page.context["adminform"].form.fields
    version.refresh_from_db()
    assert (version.description, version.base_version_id) == ("as submitted", None)
    assert LedgerEntry.objects.count() == entries


@pytest.mark.parametrize(
    "model", [ConfigVersion, ApiToken, CalibratorModel], ids=lambda m: m.__name__
)
def test_governed_rows_are_not_deleted_from_the_admin(root, tenant, author, model):
    version_register(
        tenant=tenant,
        family="scoring",
        version="1.0.0",
        payload=scoring_payload(),
        actor=Actor.for_user(author),
    )
    api_token_create(tenant=tenant, name="ingest", actor=Actor.system("t"))
    calibrator_model_for(tenant=tenant, name="signal_cal")
    row = model.objects.get()

    response = root.post(change_url(row).replace("/change/", "/delete/"), {"post": "yes"})

    assert response.status_code == 403
    assert model.objects.filter(pk=row.pk).exists()
