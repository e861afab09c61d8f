"""Queue (or run in this process) a calibrator training job."""

from __future__ import annotations

import json

from django.core.management.base import BaseCommand, CommandError

from calibration.services import registry as services
from governance.errors import DomainError
from governance.models import Tenant
from governance.services.ledger import Actor


class Command(BaseCommand):
    help = "Train a calibrator (Platt scaling or isotonic) from recorded signal outcomes."

    def add_arguments(self, parser):
        parser.add_argument("--tenant", default="default", help="tenant slug")
        parser.add_argument("--model", default="confidence_calibrator")
        parser.add_argument(
            "--method", choices=["platt_scaling", "isotonic"], default="platt_scaling"
        )
        parser.add_argument("--cv-folds", type=int, default=5)
        parser.add_argument("--min-samples", type=int, default=None)
        parser.add_argument(
            "--now", action="store_true", help="run here instead of queuing on Celery"
        )

    def handle(self, *args, **options):
        tenant = Tenant.objects.filter(slug=options["tenant"]).first()
        if tenant is None:
            raise CommandError(f"no tenant {options['tenant']!r}")
        try:
            job = services.training_job_submit(
                tenant=tenant,
                model_name=options["model"],
                method=options["method"],
                cv_folds=options["cv_folds"],
                min_samples=options["min_samples"],
                actor=Actor.system("manage.py"),
                dispatch=not options["now"],
            )
        except DomainError as exc:
            raise CommandError(getattr(exc, "errors", None) or exc.message) from exc
        if not options["now"]:
            self.stdout.write(f"queued training job {job.pk}")
            return
        services.training_job_run(job_id=job.pk, system="manage.py")
        job.refresh_from_db()
        self.stdout.write(job.log)
        summary = {"job": job.pk, "state": job.state, "failure_reason": job.failure_reason}
        version = getattr(job, "model_version", None)
        if version is not None:
            summary["version"] = version.number
        self.stdout.write(json.dumps(summary))
        if job.state == "FAILED":
            raise CommandError(job.failure_reason)
