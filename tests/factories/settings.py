"""Arranging safety settings in tests whose subject is something else (a drift check with
detection off, an evaluation gate switched off): the row is written as the kernel would
apply it, without a change request. The governed path itself is tested in
tests/governance/test_settings_changes.py and beside each setting's service."""

from __future__ import annotations

from typing import Any

from django.db.models import Model
from django.utils import timezone

from governance.kernel.settings import settings_kind
from governance.services.ledger import Actor


def arrange_setting(*, tenant, setting: str, target: str, **values: Any) -> Model:
    tenant_id = tenant if isinstance(tenant, int) else tenant.pk
    return settings_kind(setting).write(
        tenant_id, target, values, timezone.now(), Actor.system("test-arrange"), "arranged"
    )
