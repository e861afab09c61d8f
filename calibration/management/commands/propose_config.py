"""Phase 3: turn a calibration report into one proposed scoring version, registered
PENDING_APPROVAL (its approval checkpoint opens); never activated."""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError

from calibration.management.commands.calibration_pipeline import (
    ACTOR,
    add_common_arguments,
    progress_bar,
    tenants_from,
)
from calibration.models import CalibrationReport
from calibration.services import pipeline as services
from governance.errors import DomainError


class Command(BaseCommand):
    help = (
        "Propose a scoring config from the latest calibration report of each tenant (or "
        "--report ID): scoring_config_vX.Y.Z.json + change_summary_vX.Y.Z.json."
    )

    def add_arguments(self, parser):
        add_common_arguments(parser)
        parser.add_argument("--report", type=int, help="A calibration report id.")

    def handle(self, *args, **options):
        if options.get("report"):
            reports = list(CalibrationReport.objects.filter(pk=options["report"]))
            if not reports:
                raise CommandError(f"no report {options['report']}")
        else:
            reports = []
            for tenant in tenants_from(options):
                latest = (
                    CalibrationReport.objects.filter(
                        tenant=tenant, snapshot__window_days=options["window_days"]
                    )
                    .order_by("-created_at", "-id")
                    .first()
                )
                if latest is None:
                    self.stderr.write(f"{tenant.slug}: no report (run analyze_calibration)")
                    continue
                reports.append(latest)
        with progress_bar(options, len(reports), "propose") as bar:
            for report in reports:
                try:
                    proposal = services.proposal_generate(report=report, actor=ACTOR)
                except DomainError as exc:
                    raise CommandError(f"{report.tenant.slug}: {exc.message}") from exc
                paths = services.proposal_export(
                    proposal=proposal, output_dir=options.get("output_dir")
                )
                bar.update(1)
                self.stdout.write(f"{report.tenant.slug}: {proposal.message}")
                for path in paths:
                    self.stdout.write(f"  wrote {path}")
