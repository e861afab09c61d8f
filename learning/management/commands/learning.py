"""The seed's learning CLI:

    manage.py learning backtest          [--tenant T]
    manage.py learning analyze-failures  [--tenant T] [--run-id R] [--min-confidence HIGH]
    manage.py learning generate-proposals [--failure-id F] [--strategy bounded]
    manage.py learning run-sandbox       [--proposal-id P] [--runs 3]
    manage.py learning promote           --proposal-id P [--strict true]
    manage.py learning run-loop          [--auto-promote false] [--runs 3]

Every subcommand calls services and prints its progress; artifacts go to
``settings.GOVLOOP_ARTIFACT_DIR/learning/<tenant>/`` or ``--output-dir``.
"""

from __future__ import annotations

import argparse
import json

from django.core.management.base import BaseCommand, CommandError

from governance.errors import DomainError
from governance.models import Tenant
from governance.selectors import active_version
from learning.models import BacktestRun, FailureAnalysis, FailureState, LoopProposal, ProposalState
from learning.services import loop as services
from learning.services.loop_engine import DEFAULT_DECLARED_THRESHOLD, DEFAULT_RUNS


def boolean(value: str) -> bool:
    lowered = str(value).strip().lower()
    if lowered in {"true", "1", "yes", "on"}:
        return True
    if lowered in {"false", "0", "no", "off"}:
        return False
    raise argparse.ArgumentTypeError(f"expected true or false, not {value!r}")


def runs_count(value: str) -> int:
    number = int(value)
    if not 1 <= number <= 20:
        raise argparse.ArgumentTypeError("runs must be between 1 and 20")
    return number


class Command(BaseCommand):
    help = "The active learning loop: analyze failures, generate proposals, sandbox, promote."

    def add_arguments(self, parser):
        sub = parser.add_subparsers(dest="action", required=True)

        def common(p):
            p.add_argument("--tenant", help="tenant slug (default: the only tenant, or 'default')")
            p.add_argument("--output-dir", help="where artifacts are written")
            return p

        common(sub.add_parser("backtest", help="backtest the ACTIVE scoring version"))
        analyze = common(sub.add_parser("analyze-failures"))
        analyze.add_argument(
            "--run-id", help="backtest run (default: latest of the ACTIVE version)"
        )
        analyze.add_argument(
            "--min-confidence",
            choices=["LOW", "MED", "HIGH"],
            default="HIGH",
            help="lowest confidence of an ABSTAIN worth analysing (MISSes always are)",
        )
        analyze.add_argument("--limit", type=int)
        generate = common(sub.add_parser("generate-proposals"))
        generate.add_argument("--failure-id", help="one failure (default: every open one)")
        generate.add_argument("--strategy", choices=["bounded"], default="bounded")
        generate.add_argument(
            "--declared-threshold", type=float, default=DEFAULT_DECLARED_THRESHOLD
        )
        generate.add_argument(
            "--runs",
            type=runs_count,
            default=DEFAULT_RUNS,
            help="stabilization runs the validation plan declares",
        )
        sandbox = common(sub.add_parser("run-sandbox"))
        sandbox.add_argument("--proposal-id", help="one proposal (default: every PROPOSED one)")
        sandbox.add_argument("--runs", type=runs_count, default=DEFAULT_RUNS)
        promote = common(sub.add_parser("promote"))
        promote.add_argument("--proposal-id", required=True)
        promote.add_argument(
            "--strict",
            type=boolean,
            default=True,
            help="re-run the sandbox and the gate before promoting (default true)",
        )
        loop = common(sub.add_parser("run-loop"))
        loop.add_argument("--auto-promote", type=boolean, default=False)
        loop.add_argument("--runs", type=runs_count, default=DEFAULT_RUNS)
        loop.add_argument("--min-confidence", choices=["LOW", "MED", "HIGH"], default="HIGH")
        loop.add_argument("--declared-threshold", type=float, default=DEFAULT_DECLARED_THRESHOLD)
        loop.add_argument(
            "--max-proposals",
            type=int,
            default=200,
            help="proposals generated per invocation (the rest on the next one)",
        )
        loop.add_argument(
            "--reuse-run",
            action="store_true",
            help="use the latest run of the ACTIVE version instead of a new one",
        )

    def say(self, message: str) -> None:
        self.stdout.write(message)
        self.stdout.flush()

    def note(self, message: str) -> None:
        """Progress of a long step, on stderr (its result goes to stdout)."""
        self.stderr.write(message)
        self.stderr.flush()

    def _tenant(self, slug: str | None) -> Tenant:
        if slug:
            tenant = Tenant.objects.filter(slug=slug).first()
            if tenant is None:
                raise CommandError(f"no tenant {slug!r}")
            return tenant
        tenants = list(Tenant.objects.order_by("pk")[:2])
        if len(tenants) == 1:
            return tenants[0]
        tenant = Tenant.objects.filter(slug="default").first()
        if tenant is None:
            raise CommandError("several tenants: name one with --tenant")
        return tenant

    def handle(self, *args, action: str, **options):
        tenant = self._tenant(options.pop("tenant", None))
        handler = getattr(self, "do_" + action.replace("-", "_"))
        try:
            handler(tenant, **options)
        except DomainError as exc:
            detail = getattr(exc, "errors", None) or exc.message
            raise CommandError(json.dumps(detail, sort_keys=True, default=str)) from exc

    def do_backtest(self, tenant, **options):
        run = services.backtest_run_execute(tenant=tenant, actor=services.LOOP_ACTOR)
        self.say(
            f"{run.run_id}: {run.case_count} cases under v{run.config_version.version}, pass "
            f"rate {run.pass_rate:.4f} ({run.hit_count} HIT, {run.miss_count} MISS, "
            f"{run.abstain_count} ABSTAIN)"
        )

    def _run(self, tenant, run_id: str | None) -> BacktestRun:
        if run_id:
            run = BacktestRun.objects.filter(tenant=tenant, run_id=run_id).first()
        else:
            version = active_version(tenant_id=tenant.pk, family=services.FAMILY)
            run = (
                BacktestRun.objects.filter(tenant=tenant, config_version=version).first()
                if version
                else None
            )
        if run is None:
            raise CommandError("no such backtest run (run `manage.py learning backtest` first)")
        return run

    def do_analyze_failures(self, tenant, *, run_id=None, min_confidence, limit=None, **options):
        run = self._run(tenant, run_id)
        self.say(f"analyzing {run.run_id} (MISS, and ABSTAIN at confidence >= {min_confidence})")
        created = services.failures_analyze(
            run=run,
            actor=services.LOOP_ACTOR,
            min_confidence=min_confidence,
            output_dir=options.get("output_dir"),
            limit=limit,
        )
        for failure in created:
            self.say(f"  {failure.failure_id}: {failure.hypothesis}")
        self.say(f"{len(created)} new failure analysis(es)")

    def do_generate_proposals(
        self, tenant, *, failure_id=None, declared_threshold, runs, **options
    ):
        failures = FailureAnalysis.objects.filter(tenant=tenant, state=FailureState.OPEN)
        if failure_id:
            failures = failures.filter(failure_id=failure_id)
            if not failures.exists():
                raise CommandError(f"no open failure {failure_id!r}")
        failures = list(failures.filter(proposal__isnull=True).order_by("failure_id"))
        self.say(f"generating proposals for {len(failures)} failure(s)")
        created, unresolvable = services.proposals_generate(
            failures=failures,
            actor=services.LOOP_ACTOR,
            declared_threshold=declared_threshold,
            runs=runs,
            output_dir=options.get("output_dir"),
        )
        for proposal in created:
            delta = proposal.document["expected_delta"]["backtest_pass_rate_delta"]
            self.say(f"  {proposal.proposal_id}: {proposal.kind} {proposal.change} ({delta:+.4f})")
        for failure in unresolvable:
            self.say(f"  {failure}: no bounded change fixes it")
        self.say(f"{len(created)} proposal(s)")

    def do_run_sandbox(self, tenant, *, proposal_id=None, runs, **options):
        proposals = LoopProposal.objects.filter(tenant=tenant)
        if proposal_id:
            proposals = proposals.filter(proposal_id=proposal_id)
            if not proposals.exists():
                raise CommandError(f"no proposal {proposal_id!r}")
        else:
            proposals = proposals.filter(state=ProposalState.PROPOSED)
        proposals = list(proposals.order_by("proposal_id"))
        for index, proposal in enumerate(proposals, start=1):
            self.say(f"[{index}/{len(proposals)}] {proposal.proposal_id}: {runs} run(s)")
            sandbox = services.proposal_sandbox(
                proposal=proposal,
                actor=services.LOOP_ACTOR,
                runs=runs,
                output_dir=options.get("output_dir"),
            )
            for line in sandbox.report["gate"]["criteria"]:
                mark = "PASS" if line["passed"] else "FAIL"
                self.say(f"    {mark} {line['criterion']}: {line['detail']}")
            verdict = "ELIGIBLE" if sandbox.promotion_eligible else "INELIGIBLE"
            self.say(f"  {sandbox.sandbox_run_id}: {verdict}")

    def do_promote(self, tenant, *, proposal_id, strict, **options):
        proposal = LoopProposal.objects.filter(tenant=tenant, proposal_id=proposal_id).first()
        if proposal is None:
            raise CommandError(f"no proposal {proposal_id!r}")
        version = services.proposal_promote(
            proposal=proposal, actor=services.LOOP_ACTOR, strict=strict, progress=self.note
        )
        self.say(
            f"{proposal_id} promoted as {version.family.name} v{version.version} "
            f"({version.state}): a reviewer approves and activates it"
        )

    def do_run_loop(
        self,
        tenant,
        *,
        auto_promote,
        runs,
        min_confidence,
        declared_threshold,
        reuse_run,
        max_proposals,
        **options,
    ):
        summary = services.learning_loop_run(
            tenant=tenant,
            actor=services.LOOP_ACTOR,
            new_run=not reuse_run,
            min_confidence=min_confidence,
            runs=runs,
            declared_threshold=declared_threshold,
            auto_promote=auto_promote,
            max_proposals=max_proposals,
            output_dir=options.get("output_dir"),
            progress=self.say,
        )
        self.say(json.dumps(summary.as_dict(), indent=2, sort_keys=True))
