from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError

from governance.errors import ValidationFailed
from governance.models import Tenant
from governance.services.ledger import Actor
from governance.services.tenancy import api_token_create


class Command(BaseCommand):
    help = "Create an API token for a tenant and print it once (only its hash is stored)."

    def add_arguments(self, parser):
        parser.add_argument("--tenant", required=True, help="tenant slug")
        parser.add_argument("--name", required=True, help="token name, unique per tenant")
        parser.add_argument("--user", help="make it a personal token of this username")

    def handle(self, *args, tenant, name, user=None, **options):
        tenant_row = Tenant.objects.filter(slug=tenant).first()
        if tenant_row is None:
            raise CommandError(f"no tenant {tenant!r}")
        owner = None
        if user:
            owner = get_user_model().objects.filter(username=user).first()
            if owner is None:
                raise CommandError(f"no user {user!r}")
        try:
            _, raw = api_token_create(
                tenant=tenant_row, name=name, user=owner, actor=Actor.system("manage.py")
            )
        except ValidationFailed as exc:
            raise CommandError(
                "; ".join(" ".join(map(str, messages)) for messages in exc.errors.values())
            ) from exc
        self.stdout.write(raw)
