"""Phase 2: analyze a metrics snapshot into a report of findings (it changes nothing)."""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError

from calibration.management.commands.calibration_pipeline import (
    ACTOR,
    add_common_arguments,
    progress_bar,
    tenants_from,
)
from calibration.models import MetricsSnapshot
from calibration.services import pipeline as services


class Command(BaseCommand):
    help = (
        "Analyze the latest metrics snapshot of each tenant (or --snapshot ID) into a "
        "calibration report (calibration_report_YYYYMMDD_HHMMSS.json). With --window-days, "
        "the latest snapshot of that window."
    )

    def add_arguments(self, parser):
        add_common_arguments(parser)
        parser.add_argument("--snapshot", type=int, help="A snapshot id.")
        parser.add_argument(
            "--epsilon", type=float, default=services.CROWDING_EPSILON, help="Crowding band."
        )

    def handle(self, *args, **options):
        if options.get("snapshot"):
            snapshots = list(MetricsSnapshot.objects.filter(pk=options["snapshot"]))
            if not snapshots:
                raise CommandError(f"no snapshot {options['snapshot']}")
        else:
            snapshots = []
            for tenant in tenants_from(options):
                latest = (
                    MetricsSnapshot.objects.filter(
                        tenant=tenant, window_days=options["window_days"]
                    )
                    .order_by("-created_at", "-id")
                    .first()
                )
                if latest is None:
                    self.stderr.write(f"{tenant.slug}: no snapshot (run collect_metrics)")
                    continue
                snapshots.append(latest)
        with progress_bar(options, len(snapshots), "analyze") as bar:
            for snapshot in snapshots:
                report = services.report_analyze(
                    snapshot=snapshot, actor=ACTOR, epsilon=options["epsilon"]
                )
                path = services.report_export(report=report, output_dir=options.get("output_dir"))
                bar.update(1)
                self.stdout.write(
                    f"{snapshot.tenant.slug}: report {report.pk} "
                    f"({report.findings.count()} findings) -> {path}"
                )
