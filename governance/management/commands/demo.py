import importlib
import importlib.util

from django.apps import apps
from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction
from django.utils import timezone

from governance.demo import seed_governance


class Command(BaseCommand):
    help = (
        "Seed the demo tenant (idempotent): people, a machine token, a scoring config with a "
        "pending proposal, then every app's demo story (<app>/demo.py: seed(tenant=, now=))."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--force",
            action="store_true",
            help="seed even without DEBUG (the demo logins are public: never in production)",
        )

    def handle(self, *args, force=False, **options):
        if not settings.DEBUG and not force:
            raise CommandError(
                "the demo has public passwords: run it with DEBUG=1 (or --force on a "
                "throwaway database)"
            )
        now = timezone.now()
        with transaction.atomic():
            result = seed_governance(now=now)
        for app_config in apps.get_app_configs():
            module_name = f"{app_config.name}.demo"
            if app_config.name == "governance" or importlib.util.find_spec(module_name) is None:
                continue
            # Each app's story in its own transaction: a failing one does not undo the others.
            with transaction.atomic():
                importlib.import_module(module_name).seed(tenant=result.tenant, now=now)
            self.stdout.write(f"demo: seeded {app_config.label}")
        self.stdout.write(self.style.SUCCESS(f"demo tenant: {result.tenant.slug}"))
        self.stdout.write("logins (username / password):")
        for user in result.users:
            role = "superuser" if user.superuser else user.group
            self.stdout.write(f"  {user.username:<9} {user.password:<22} {role}")
        self.stdout.write(f"machine API token ({result.tenant.slug}): {result.token}")
