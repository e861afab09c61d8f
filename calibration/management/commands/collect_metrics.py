"""Phase 1: aggregate metrics over a window into a snapshot (and its JSON export)."""

from __future__ import annotations

from django.core.management.base import BaseCommand

from calibration.management.commands.calibration_pipeline import (
    ACTOR,
    add_common_arguments,
    progress_bar,
    tenants_from,
)
from calibration.services import pipeline as services


class Command(BaseCommand):
    help = "Collect aggregate calibration metrics (metrics_snapshot_YYYYMMDD_HHMMSS.json)."

    def add_arguments(self, parser):
        add_common_arguments(parser)

    def handle(self, *args, **options):
        tenants = tenants_from(options)
        with progress_bar(options, len(tenants), "collect metrics") as bar:
            for tenant in tenants:
                snapshot = services.metrics_collect(
                    tenant=tenant, actor=ACTOR, window_days=options["window_days"]
                )
                path = services.snapshot_export(
                    snapshot=snapshot, output_dir=options.get("output_dir")
                )
                bar.update(1)
                self.stdout.write(
                    f"{tenant.slug}: snapshot {snapshot.pk} "
                    f"({snapshot.decision_count} decisions) -> {path}"
                )
