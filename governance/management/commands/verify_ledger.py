from django.core.management.base import BaseCommand, CommandError

from governance.models import Tenant
from governance.services.ledger import ledger_verify_all


class Command(BaseCommand):
    help = "Recompute every tenant's hash chain and check its signed anchors."

    def add_arguments(self, parser):
        parser.add_argument("--tenant", help="tenant slug (default: every tenant)")

    def handle(self, *args, tenant=None, **options):
        ids = None
        if tenant:
            row = Tenant.objects.filter(slug=tenant).first()
            if row is None:
                raise CommandError(f"no tenant {tenant!r}")
            ids = [row.pk]
        broken = []
        for result in ledger_verify_all(tenant_ids=ids):
            slug = Tenant.objects.get(pk=result.tenant_id).slug
            if result.ok:
                self.stdout.write(
                    f"{slug}: OK ({result.entries} entries, {result.anchors_checked} anchors)"
                )
            else:
                broken.append(slug)
                self.stdout.write(
                    self.style.ERROR(
                        f"{slug}: BROKEN at seq {result.first_broken_seq}: {result.problem}"
                    )
                )
        if broken:
            raise CommandError(f"ledger verification failed for: {', '.join(broken)}")
