import pytest

from governance.selectors import active_version
from governance.services.ledger import Actor
from governance.services.versions import version_activate, version_approve, version_register
from tests.factories import scoring_payload


def one_feature_payload(**overrides):
    """A scorer whose score is its single feature ``x``: decisions can be placed at any score."""
    values = {
        "weights": {"x": 1.0},
        "flag_rules": [{"name": "x_high", "feature": "x", "operator": ">=", "value": 0.9}],
        "escalate_on": ["x_high"],
        **overrides,
    }
    return scoring_payload(**values)


@pytest.fixture
def activate_scoring(tenant, reviewer):
    """``activate_scoring(payload, version="1.0.0")``: register, approve and activate."""

    def activate(payload=None, version="1.0.0"):
        registered = version_register(
            tenant=tenant,
            family="scoring",
            version=version,
            payload=payload or one_feature_payload(),
            base_version=active_version(tenant_id=tenant.pk, family="scoring"),
            actor=Actor.system("test"),
            submit=True,
        )
        approved = version_approve(version=registered, user=reviewer, reason="looks right")
        return version_activate(version=approved, user=reviewer, reason="go")

    return activate
