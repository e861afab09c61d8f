"""Run the offline calibration pipeline: collect -> analyze -> propose (seed 001). The
proposal is registered PENDING_APPROVAL; nothing is ever activated here."""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError
from tqdm import tqdm

from calibration.services import pipeline as services
from governance.errors import DomainError
from governance.models import Tenant
from governance.services.ledger import Actor

ACTOR = Actor.system("calibration-cli")


def add_common_arguments(parser) -> None:
    parser.add_argument("--tenant", help="Tenant slug (default: every tenant).")
    parser.add_argument(
        "--window-days", type=int, default=services.DEFAULT_WINDOW_DAYS, help="Default 30."
    )
    parser.add_argument(
        "--output-dir",
        help="Where the JSON files go (default settings.GOVLOOP_ARTIFACT_DIR), one folder "
        "per tenant.",
    )


def tenants_from(options) -> list[Tenant]:
    if options.get("tenant"):
        tenant = Tenant.objects.filter(slug=options["tenant"]).first()
        if tenant is None:
            raise CommandError(f"no tenant {options['tenant']!r}")
        return [tenant]
    return list(Tenant.objects.order_by("slug"))


def progress_bar(options, total: int, desc: str) -> tqdm:
    return tqdm(total=total, desc=desc, unit="step", disable=options.get("verbosity", 1) == 0)


class Command(BaseCommand):
    help = "collect_metrics + analyze_calibration + propose_config for one or every tenant."

    def add_arguments(self, parser):
        add_common_arguments(parser)

    def handle(self, *args, **options):
        tenants = tenants_from(options)
        steps = ("collected", "analyzed", "proposed", "exported")
        with progress_bar(options, len(tenants) * len(steps), "calibration pipeline") as bar:
            for tenant in tenants:
                bar.set_postfix_str(tenant.slug)
                try:
                    result = services.calibration_pipeline_run(
                        tenant=tenant,
                        actor=ACTOR,
                        window_days=options["window_days"],
                        output_dir=options.get("output_dir"),
                        progress=lambda _step: bar.update(1),
                    )
                except DomainError as exc:
                    raise CommandError(f"{tenant.slug}: {exc.message}") from exc
                proposal = result["proposal"]
                self.stdout.write(
                    f"{tenant.slug}: snapshot {result['snapshot'].pk} "
                    f"({result['snapshot'].decision_count} decisions), report "
                    f"{result['report'].pk} ({result['report'].findings.count()} findings), "
                    f"{proposal.message}"
                )
                for path in result["files"]:
                    self.stdout.write(f"  wrote {path}")
