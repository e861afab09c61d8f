from django.core.management.base import BaseCommand, CommandError

from governance.models import Tenant
from governance.services.ledger import ledger_verify


class Command(BaseCommand):
    help = "Check every tenant's hash chain and its signed anchors."
    # Verification reads the ledger and nothing else: the system checks would first import every
    # URL, view and serializer (a good share of the start-up) and could refuse to verify a
    # restored database because of an unrelated setting.
    requires_system_checks = []

    def add_arguments(self, parser):
        parser.add_argument("--tenant", help="tenant slug (default: every tenant)")
        parser.add_argument(
            "--rehash",
            action="store_true",
            help="compute every body's SHA-256 again instead of reading the one PostgreSQL "
            "generated when the row was written (slower; for when the table's catalog itself "
            "is in doubt)",
        )

    def handle(self, *args, tenant=None, rehash=False, verbosity=1, **options):
        tenants = Tenant.objects.order_by("pk")
        if tenant:
            tenants = tenants.filter(slug=tenant)
        tenants = list(tenants.values_list("pk", "slug"))
        if tenant and not tenants:
            raise CommandError(f"no tenant {tenant!r}")
        broken = []
        for index, (tenant_id, slug) in enumerate(tenants, start=1):
            if verbosity:
                # Progress on stderr, results on stdout: a script can still read the verdicts.
                self.stderr.write(f"[{index}/{len(tenants)}] verifying {slug}...")
                self.stderr.flush()
            result = ledger_verify(tenant_id=tenant_id, rehash=rehash)
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
