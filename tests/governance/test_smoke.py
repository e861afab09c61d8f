import pytest

from governance.models import LedgerEntry, Tenant
from governance.services.ledger import Actor, ledger_anchor_head, ledger_append, ledger_verify

pytestmark = pytest.mark.django_db


def test_the_migration_creates_the_default_tenant():
    assert Tenant.objects.filter(slug="default").exists()


def test_appends_form_a_verifiable_chain(tenant):
    for i in range(3):
        ledger_append(
            tenant=tenant, kind="benchmark.event", actor=Actor.system("t"), payload={"i": i}
        )
    assert list(LedgerEntry.objects.filter(tenant=tenant).values_list("seq", flat=True)) == [
        1,
        2,
        3,
    ]
    # Tests do not run on-commit callbacks: anchor the head as the commit would.
    ledger_anchor_head(tenant_id=tenant.pk)
    assert ledger_verify(tenant_id=tenant.pk).ok
