from django.core.management.base import BaseCommand, CommandError

from governance.models import Tenant
from governance.services.ledger import ledger_verify_all


class Command(BaseCommand):
    help = "Check every tenant's hash chain and its signed anchors."

    def add_arguments(self, parser):
        parser.add_argument("--tenant", help="tenant slug (default: every tenant)")
        parser.add_argument(
            "--rehash",
            action="store_true",
            help="compute every body's SHA-256 again instead of reading the one PostgreSQL "
            "generated when the row was written (slower; for when the table's catalog itself "
            "is in doubt)",
        )

    def handle(self, *args, tenant=None, rehash=False, **options):
        ids = None
        if tenant:
            row = Tenant.objects.filter(slug=tenant).first()
            if row is None:
                raise CommandError(f"no tenant {tenant!r}")
            ids = [row.pk]
        broken = []
        for result in ledger_verify_all(tenant_ids=ids, rehash=rehash):
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
