from tests.factories.governance import (
    ConfigVersionFactory,
    TenantFactory,
    UserFactory,
    scoring_payload,
)

__all__ = ["ConfigVersionFactory", "TenantFactory", "UserFactory", "scoring_payload"]
