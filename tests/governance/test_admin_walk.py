"""Finding 5 of issue 13 (deliver item 6): the admin cannot bypass the governance kernel.

For every registered ModelAdmin of a governed model (one with a tenant, or hanging off a row
that has one), a superuser opens the change form of a real row and posts it back with one
field altered, for every editable field in turn. Each save must either be refused (403, the
form re-rendered with errors, or nothing changed in the row) or have written a ledger entry
naming that superuser. Rows come from ``manage.py demo`` plus a few factories."""

from __future__ import annotations

import datetime as dt
import decimal
import io
import json

import pytest
from django import forms
from django.contrib import admin
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.test import RequestFactory
from django.urls import reverse

from governance.models import ConfigVersion, LedgerEntry, RollbackReport, Tenant
from governance.services.ledger import Actor

pytestmark = pytest.mark.django_db


def _has_tenant(model) -> bool:
    return any(f.name == "tenant" for f in model._meta.concrete_fields)


def is_governed(model) -> bool:
    """A tenant's row, or a row hanging off one (an evaluation of a tenant's calibrator)."""
    if model is Tenant:
        return False
    if _has_tenant(model):
        return True
    return any(
        f.is_relation and f.many_to_one and f.related_model and _has_tenant(f.related_model)
        for f in model._meta.concrete_fields
    )


def governed_admins():
    found = []
    for model, _model_admin in sorted(admin.site._registry.items(), key=lambda i: i[0]._meta.label):
        if is_governed(model):
            found.append(pytest.param(model, id=model._meta.label_lower))
    return found


@pytest.fixture
def superuser(db):
    return get_user_model().objects.create_superuser("root", "root@example.com", "pw")


@pytest.fixture
def rows(settings, tenant, reviewer):
    """One row of (nearly) everything: the demo seeds the whole loop for tenant demo; a loop
    run, a drift alert and a pattern outcome add what it does not."""
    from calibration.services.patterns import pattern_outcome_record
    from governance.services.levers import charter_policy_upsert, risk_policy_upsert
    from learning.services import loop as loop_services
    from tests.factories.loop import activate_version, term_emergence_cases, term_payload
    from tripwire.services.drift import drift_check, drift_set_baseline

    settings.DEBUG = True
    call_command("demo", stdout=io.StringIO())
    activate_version(tenant=tenant, payload=term_payload(), reviewer=reviewer)
    term_emergence_cases(tenant)
    loop_services.learning_loop_run(tenant=tenant, auto_promote=False)
    system = Actor.system("walker")
    drift_set_baseline(tenant=tenant, model_name="m", metrics={"brier": 0.1}, actor=system)
    drift_check(tenant=tenant, model_name="m", current={"brier": 0.5}, actor=system)
    pattern_outcome_record(tenant=tenant, pattern="p", confidence=0.9, was_correct=True)
    charter_policy_upsert(
        tenant=tenant, domain="payments", actor=system, reason="walk", min_confidence_prod=0.99
    )
    # Lowering it loosens: a pending settings change to walk too.
    charter_policy_upsert(
        tenant=tenant, domain="payments", actor=system, reason="walk", min_confidence_prod=0.5
    )
    risk_policy_upsert(tenant=tenant, engine="payments", actor=system, reason="walk", enabled=False)
    # A bare report: in this branch no service writes one yet (the rollback service does).
    version = ConfigVersion.objects.filter(tenant=tenant).first()
    RollbackReport.objects.create(
        tenant=tenant,
        family=version.family,
        rolled_back_to=version,
        actor="user:rita",
        reason="walked",
    )


def superuser_request(user):
    request = RequestFactory().get("/admin/")
    request.user = user
    return request


def _serialize(bound, data: dict) -> None:
    """Put a bound field's current value into POST data the way a browser would."""
    field, widget, value = bound.field, bound.field.widget, bound.value()
    name = bound.html_name
    if isinstance(widget, forms.MultiWidget):
        parts = widget.decompress(value) if not isinstance(value, list) else value
        for index, (sub, part) in enumerate(zip(widget.widgets, parts, strict=False)):
            data[f"{name}{widget.widgets_names[index]}"] = sub.format_value(part) or ""
        return
    if isinstance(widget, forms.CheckboxInput):
        if value:
            data[name] = "on"
        return
    if isinstance(widget, forms.SelectMultiple):
        data[name] = [str(v) for v in (value or [])]
        return
    if isinstance(field, forms.JSONField):
        data[name] = value if isinstance(value, str) else json.dumps(value)
        return
    prepared = field.prepare_value(value)
    data[name] = "" if prepared is None else str(prepared)


def form_data(response) -> tuple[dict, forms.BaseForm]:
    context = response.context
    form = context["adminform"].form
    data: dict = {}
    for bound in form:
        _serialize(bound, data)
    for inline in context.get("inline_admin_formsets", []):
        formset = inline.formset
        for bound in formset.management_form:
            data[bound.html_name] = bound.value()
        for each in formset.forms:
            for bound in each:
                _serialize(bound, data)
    return data, form


def altered(bound, data: dict) -> dict | None:
    """The same POST with this field changed, or None when the field cannot take another value."""
    field, name = bound.field, bound.html_name
    value = bound.value()
    new = dict(data)
    if isinstance(field, forms.ModelChoiceField):
        current = str(value) if value is not None else None
        other = next((o for o in field.queryset.all() if str(o.pk) != current), None)
        if other is None:
            return None
        new[name] = str(other.pk)
    elif isinstance(field, (forms.BooleanField, forms.NullBooleanField)):
        if value:
            new.pop(name, None)
        else:
            new[name] = "on"
    elif isinstance(field, forms.TypedChoiceField | forms.ChoiceField):
        choices = [str(c[0]) for c in field.choices if str(c[0]) not in ("", str(value))]
        if not choices:
            return None
        new[name] = choices[0]
    elif isinstance(field, forms.IntegerField | forms.FloatField | forms.DecimalField):
        base = decimal.Decimal(str(value)) if value not in (None, "") else decimal.Decimal(0)
        new[name] = str(base + 1)
    elif isinstance(field, forms.JSONField):
        current = json.loads(data[name]) if data.get(name) else None
        if isinstance(current, list):
            new[name] = json.dumps([*current, "walker"])
        elif isinstance(current, dict):
            new[name] = json.dumps({**current, "walker": 1})
        else:
            new[name] = json.dumps({"walker": 1})
    elif isinstance(field, forms.SplitDateTimeField | forms.DateTimeField):
        when = (
            value if isinstance(value, dt.datetime) else dt.datetime(2026, 1, 1)
        ) + dt.timedelta(days=1)
        for key in list(new):
            if key.startswith(name):
                new.pop(key)
        new[f"{name}_0"] = when.date().isoformat()
        new[f"{name}_1"] = when.time().strftime("%H:%M:%S")
        new[name] = when.strftime("%Y-%m-%d %H:%M:%S")
    elif isinstance(field, forms.CharField):
        new[name] = (str(value or "") + " walker")[: field.max_length or 10_000]
    else:
        return None
    return new


def snapshot(row) -> dict:
    fresh = type(row)._default_manager.get(pk=row.pk)
    return {f.attname: getattr(fresh, f.attname) for f in fresh._meta.concrete_fields}


@pytest.mark.parametrize("model", governed_admins())
def test_a_change_form_save_is_refused_or_written_to_the_ledger(client, superuser, rows, model):
    model_admin = admin.site._registry[model]
    if not model_admin.has_change_permission(superuser_request(superuser)):
        return  # a read-only admin (an event table, the ledger): nothing can be posted
    row = model._default_manager.order_by("pk").first()
    assert row is not None, f"no {model._meta.label} row to walk: seed one in the rows fixture"
    url = reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}_change", args=[row.pk])
    client.force_login(superuser)

    page = client.get(url)
    if page.status_code == 403:
        return
    assert page.status_code == 200
    data, form = form_data(page)
    assert "tenant" not in form.fields, "a tenant is never editable after creation"

    for bound in form:
        post = altered(bound, data)
        if post is None:
            continue
        before, last = (
            snapshot(row),
            LedgerEntry.objects.order_by("-pk").values_list("pk", flat=True).first(),
        )
        response = client.post(url, post)
        if response.status_code == 403 or snapshot(row) == before:
            continue
        written = LedgerEntry.objects.filter(pk__gt=last or 0, actor="user:root")
        assert written.exists(), (
            f"{model._meta.label}.{bound.name}: the admin saved a change with no ledger entry "
            f"naming the user"
        )
