"""Print (and record) the confidence-filter report of a tenant's SIGNAL_ACCURACY outcomes."""

from __future__ import annotations

import json

from django.core.management.base import BaseCommand, CommandError
from django.utils.dateparse import parse_datetime

from governance.errors import DomainError
from governance.models import Tenant
from governance.services.ledger import Actor
from learning.services.events import confidence_filter_report


class Command(BaseCommand):
    help = (
        "Baseline (all signals) against filtered (confidence >= threshold) win rate, Sharpe "
        "ratio and profit factor, raw or calibrated; recorded as a METRIC_RECORDED event."
    )

    def add_arguments(self, parser):
        parser.add_argument("--tenant", default="default", help="tenant slug")
        parser.add_argument("--threshold", type=float, default=0.80)
        parser.add_argument(
            "--calibrated",
            action="store_true",
            help="filter on the PRODUCTION calibrator's probabilities",
        )
        parser.add_argument("--model", default="confidence_calibrator")
        parser.add_argument("--source-engine", default=None)
        parser.add_argument("--since", default=None, help="ISO 8601")
        parser.add_argument("--until", default=None, help="ISO 8601")

    def handle(self, *args, **options):
        tenant = Tenant.objects.filter(slug=options["tenant"]).first()
        if tenant is None:
            raise CommandError(f"no tenant {options['tenant']!r}")
        try:
            report = confidence_filter_report(
                tenant=tenant,
                threshold=options["threshold"],
                actor=Actor.system("manage.py"),
                use_calibration=options["calibrated"],
                model_name=options["model"],
                source_engine=options["source_engine"],
                since=parse_datetime(options["since"]) if options["since"] else None,
                until=parse_datetime(options["until"]) if options["until"] else None,
            )
        except DomainError as exc:
            raise CommandError(getattr(exc, "errors", None) or exc.message) from exc
        self.stdout.write(json.dumps(report, indent=2, sort_keys=True))
