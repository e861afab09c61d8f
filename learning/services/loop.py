"""Use cases of the active learning loop (seed 002): backtest cases and runs, failure analysis,
proposal generation, sandbox replay and promotion. Each runs in one transaction and writes its
ledger entries in it; artifact files are written after commit (they are deterministic, so a
rewrite is harmless). The pure logic lives in ``learning.services.loop_engine``."""

from __future__ import annotations

import datetime as dt
import json
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Exists, OuterRef, Q
from django.utils import timezone

from governance.errors import NotFound, TransitionConflict, ValidationFailed
from governance.ingest import bulk_insert
from governance.models import ConfigVersion, Tenant, VersionSource, VersionState
from governance.selectors import active_version, ledger_for_subject
from governance.services.ledger import Actor, ledger_append, ledger_lock
from governance.services.versions import next_version, version_register
from learning.models import (
    BacktestCase,
    BacktestResult,
    BacktestRun,
    BacktestStatus,
    FailureAnalysis,
    FailureState,
    LoopProposal,
    ProposalState,
    RunTrigger,
    SandboxRun,
)
from learning.services import loop_engine as engine

FAMILY = "scoring"
LOOP_ACTOR = Actor.system("learning_loop")
CONFIDENCE_RANK = {"LOW": 0, "MED": 1, "HIGH": 2}
CASE_FIELDS = (
    "case_id",
    "features",
    "expected_decision",
    "expected_flags",
    "expected_escalate",
    "protected",
)
RESULT_BATCH = 5000
CASE_ID = re.compile(r"^[-a-zA-Z0-9_]{1,120}$")
FEATURE_NAME = re.compile(r"^[-a-zA-Z0-9_.:]{1,64}$")
PRINTABLE = re.compile(r"^[^\x00-\x1f\x7f]{1,64}$")

Progress = Callable[[str], None]


def _quiet(_message: str) -> None:
    return None


# --------------------------------------------------------------------------------------------
# Artifacts


def artifact_dir(tenant: Tenant, output_dir: str | Path | None = None) -> Path:
    if output_dir:
        return Path(output_dir)
    return Path(settings.GOVLOOP_ARTIFACT_DIR) / "learning" / tenant.slug


def pretty_json(document: Any) -> str:
    return json.dumps(document, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def _write_on_commit(files: Sequence[tuple[Path, str]]) -> None:
    def write() -> None:
        for path, text in files:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text, encoding="utf-8")

    # robust: the proposal is committed; a failed artifact write is logged, never a 500.
    transaction.on_commit(write, robust=True)


# --------------------------------------------------------------------------------------------
# Backtest cases


def _case_errors(data: Mapping[str, Any]) -> dict[str, list[str]]:
    errors: dict[str, list[str]] = {}
    features = data.get("features")
    if not isinstance(features, dict) or not features:
        errors["features"] = ["must be a non-empty object of feature name -> number"]
    else:
        bad = sorted(
            k
            for k, v in features.items()
            if not isinstance(k, str)
            or isinstance(v, bool)
            or not isinstance(v, int | float)
            or v != v
            or v in (float("inf"), float("-inf"))
        )
        if bad:
            errors["features"] = [f"not a finite number: {', '.join(map(str, bad))}"]
        names = [k for k in features if not isinstance(k, str) or not FEATURE_NAME.match(k)]
        if names:
            errors.setdefault("features", []).append(
                "feature names are 1-64 letters, digits, '_', '-', '.' or ':'"
            )
    flags = data.get("expected_flags", [])
    if not isinstance(flags, list) or not all(
        isinstance(f, str) and PRINTABLE.match(f) for f in flags
    ):
        errors["expected_flags"] = ["must be a list of flag names (1-64 printable characters)"]
    decision = data.get("expected_decision")
    if not isinstance(decision, str) or not PRINTABLE.match(decision) or len(decision) > 40:
        errors["expected_decision"] = ["required: a band name or ABSTAIN (at most 40 chars)"]
    escalate = data.get("expected_escalate")
    if escalate is not None and not isinstance(escalate, bool):
        errors["expected_escalate"] = ["must be true, false or null"]
    description = str(data.get("description") or "")
    if len(description) > 200 or "\x00" in description:
        errors["description"] = ["at most 200 characters, no NUL"]
    return errors


@transaction.atomic
def backtest_case_create(
    *, tenant: Tenant, data: Mapping[str, Any], actor: Actor, now: dt.datetime | None = None
) -> BacktestCase:
    return backtest_cases_import(tenant=tenant, records=[data], actor=actor, now=now)[0]


@transaction.atomic
def backtest_case_update(
    *, case: BacktestCase, data: Mapping[str, Any], actor: Actor, now: dt.datetime | None = None
) -> BacktestCase:
    now = now or timezone.now()
    merged = {name: getattr(case, name) for name in CASE_FIELDS} | dict(data)
    errors = _case_errors(merged)
    if errors:
        raise ValidationFailed(errors)
    changed = sorted(k for k in data if k != "case_id" and getattr(case, k) != data[k])
    for name in changed:
        setattr(case, name, data[name])
    case.updated_at = now
    case.save(update_fields=[*changed, "updated_at"])
    ledger_append(
        tenant=case.tenant_id,
        kind="learning.backtest_case.updated",
        actor=actor,
        subject=case,
        payload={"case_id": case.case_id, "fields": changed},
        now=now,
    )
    return case


@transaction.atomic
def backtest_case_delete(*, case: BacktestCase, actor: Actor, now: dt.datetime | None = None):
    """Retire a case (kept for the history of past runs; no longer replayed)."""
    now = now or timezone.now()
    case.active = False
    case.updated_at = now
    case.save(update_fields=["active", "updated_at"])
    ledger_append(
        tenant=case.tenant_id,
        kind="learning.backtest_case.retired",
        actor=actor,
        subject=case,
        payload={"case_id": case.case_id},
        now=now,
    )


@transaction.atomic
def backtest_cases_import(
    *,
    tenant: Tenant,
    records: Sequence[Mapping[str, Any]],
    actor: Actor,
    update_existing: bool = False,
    now: dt.datetime | None = None,
) -> list[BacktestCase]:
    """All or nothing: every record is validated first; any error stores nothing. Existing
    case ids are an error unless ``update_existing``."""
    now = now or timezone.now()
    errors: dict[str, Any] = {}
    seen: set[str] = set()
    for index, record in enumerate(records):
        problems = _case_errors(record)
        case_id = record.get("case_id")
        if not isinstance(case_id, str) or not CASE_ID.match(case_id):
            problems["case_id"] = ["required: letters, digits, - and _ (at most 120)"]
        elif case_id in seen:
            problems["case_id"] = [f"{case_id} appears twice"]
        else:
            seen.add(case_id)
        if problems:
            errors[str(index)] = problems
    existing = {c.case_id: c for c in BacktestCase.objects.filter(tenant=tenant, case_id__in=seen)}
    if existing and not update_existing:
        for index, record in enumerate(records):
            if record.get("case_id") in existing:
                errors.setdefault(str(index), {})["case_id"] = ["already exists"]
    if errors:
        raise ValidationFailed(errors if len(records) > 1 else errors["0"])
    created, updated = [], []
    for record in records:
        values = {
            "features": dict(record["features"]),
            "expected_decision": record["expected_decision"],
            "expected_flags": list(record.get("expected_flags") or []),
            "expected_escalate": record.get("expected_escalate"),
            "protected": bool(record.get("protected", False)),
            "description": record.get("description", "") or "",
            "active": True,
            "updated_at": now,
        }
        case = existing.get(record["case_id"])
        if case is None:
            created.append(
                BacktestCase(tenant=tenant, case_id=record["case_id"], created_at=now, **values)
            )
        else:
            for name, value in values.items():
                setattr(case, name, value)
            updated.append(case)
    BacktestCase.objects.bulk_create(created, batch_size=RESULT_BATCH)
    if updated:
        BacktestCase.objects.bulk_update(
            updated,
            [
                "features",
                "expected_decision",
                "expected_flags",
                "expected_escalate",
                "protected",
                "description",
                "active",
                "updated_at",
            ],
            batch_size=RESULT_BATCH,
        )
    ledger_append(
        tenant=tenant,
        kind="learning.backtest_cases.imported",
        actor=actor,
        payload={
            "created": len(created),
            "updated": len(updated),
            "records_sha256": engine.sha256_of([dict(r) for r in records]),
            "case_ids": sorted(seen)[:100],
        },
        now=now,
    )
    by_id = {c.case_id: c for c in BacktestCase.objects.filter(tenant=tenant, case_id__in=seen)}
    return [by_id[r["case_id"]] for r in records]


def load_case_set(
    *,
    tenant: Tenant | int,
    payloads: Sequence[Mapping[str, Any]],
    case_ids: Iterable[str] | None = None,
) -> tuple[engine.CaseSet, list[int]]:
    """The tenant's active cases (or the named ones) as a replayable set, with their pks in
    the same order."""
    queryset = BacktestCase.objects.filter(tenant=tenant, active=True)
    if case_ids is not None:
        queryset = queryset.filter(case_id__in=list(case_ids))
    rows = list(queryset.order_by("case_id").values_list("pk", *CASE_FIELDS))
    records = [dict(zip(CASE_FIELDS, row[1:], strict=True)) for row in rows]
    cases = engine.CaseSet.from_records(records, engine.payload_feature_names(*payloads))
    return cases, [row[0] for row in rows]


# --------------------------------------------------------------------------------------------
# Backtest runs


def _version_ref(version: ConfigVersion) -> dict[str, Any]:
    return {
        "config_version": version.version,
        "config_version_pk": version.pk,
        "family": version.family.name,
    }


def _flag_lists(flag_matrix: np.ndarray, flag_names: Sequence[str]) -> list[list[str]]:
    """The fired flag names per row, through the few distinct combinations that occur."""
    if not flag_names:
        return [[] for _ in range(flag_matrix.shape[0])]
    codes, inverse = np.unique(flag_matrix, axis=0, return_inverse=True)
    names = [[flag_names[j] for j in np.flatnonzero(code)] for code in codes]
    return [names[k] for k in inverse.reshape(-1).tolist()]


def _next_run_id(tenant: Tenant) -> str:
    # The tenant row lock orders concurrent runs so each takes the next tenant-local number.
    # NO KEY: a plain FOR UPDATE would also block every other transaction's foreign-key check
    # on the tenant (a concurrent loop inserting analyses under the ledger lock, which this
    # run wants next): a deadlock.
    Tenant.objects.select_for_update(no_key=True).filter(pk=tenant.pk).first()
    return f"run_{BacktestRun.objects.filter(tenant=tenant).count() + 1:06d}"


@transaction.atomic
def backtest_run_execute(
    *,
    tenant: Tenant,
    actor: Actor,
    config_version: ConfigVersion | None = None,
    trigger: str = RunTrigger.MANUAL,
    idempotency_key: str | None = None,
    analyze_failures: bool = False,
    now: dt.datetime | None = None,
) -> BacktestRun:
    """Scores every active case with the vectorised scorer under ``config_version`` (the
    ACTIVE scoring version by default) and stores one result per case. With an
    ``idempotency_key`` a second call returns the first run instead of scoring again.

    ``analyze_failures`` analyses the run's every MISS and HIGH-confidence ABSTAIN at once,
    with the same deterministic analysis as ``manage.py learning analyze-failures`` (seed 002:
    every MISS is analysed), so a run started from the API or the admin leaves its failure
    analyses behind it. The seed's step-by-step CLI, the loop and the demo keep the two steps
    apart (the loop analyses right after its run, at its own confidence level)."""
    now = now or timezone.now()
    run = _backtest_run(
        tenant=tenant,
        actor=actor,
        config_version=config_version,
        trigger=trigger,
        idempotency_key=idempotency_key,
        now=now,
    )
    if analyze_failures and (run.miss_count or run.abstain_count):
        failures_analyze(run=run, actor=actor, now=now)
    return run


def _backtest_run(
    *,
    tenant: Tenant,
    actor: Actor,
    config_version: ConfigVersion | None,
    trigger: str,
    idempotency_key: str | None,
    now: dt.datetime,
) -> BacktestRun:
    if idempotency_key:
        done = BacktestRun.objects.filter(tenant=tenant, idempotency_key=idempotency_key).first()
        if done is not None:
            return done
    if config_version is None:
        config_version = active_version(tenant_id=tenant.pk, family=FAMILY)
        if config_version is None:
            raise ValidationFailed({"config_version": ["no ACTIVE scoring version to backtest"]})
    elif config_version.tenant_id != tenant.pk:
        raise NotFound("no such config version")
    if config_version.family.name != FAMILY:
        raise ValidationFailed({"config_version": ["backtests replay scoring versions only"]})
    payload = config_version.payload
    cases, pks = load_case_set(tenant=tenant, payloads=[payload])
    run_id = _next_run_id(tenant)
    try:
        with transaction.atomic():
            run = BacktestRun.objects.create(
                tenant=tenant,
                run_id=run_id,
                config_version=config_version,
                trigger=trigger,
                idempotency_key=idempotency_key,
                started_at=now,
            )
    except IntegrityError:
        # A concurrent caller with the same key won; return its run.
        return BacktestRun.objects.get(tenant=tenant, idempotency_key=idempotency_key)
    batch, status = engine.replay(payload, cases)
    levels = engine.confidence_levels(batch.confidence)
    decisions = batch.decisions()
    flag_names = batch.flag_names
    flag_lists = _flag_lists(batch.flag_matrix, flag_names)
    scores = batch.scores.tolist()
    confidence = batch.confidence.tolist()
    escalate = batch.escalate.tolist()
    status_list = status.tolist()
    level_list = levels.tolist()
    # COPY on PostgreSQL, bulk_create elsewhere (governance.ingest): 100,000 results per run.
    bulk_insert(
        BacktestResult,
        [
            {
                "case_id": pks[i],
                "status": engine.STATUS_NAMES[status_list[i]],
                "decision": decisions[i],
                "score": scores[i],
                "confidence_value": confidence[i],
                "confidence": engine.CONFIDENCE_LEVELS[level_list[i]],
                "flags": flag_lists[i],
                "escalate": escalate[i],
            }
            for i in range(len(pks))
        ],
        constants={"run_id": run.pk},
    )
    summary = engine.summarise(status, batch.scores)
    run.case_count = len(pks)
    run.hit_count = summary["hit_count"]
    run.miss_count = summary["miss_count"]
    run.abstain_count = summary["abstain_count"]
    run.pass_rate = summary["backtest_pass_rate"]
    run.avg_score = summary["avg_score"]
    ids_digest = engine.sha256_of(list(cases.case_ids))
    run.results_sha256 = engine.results_hash(
        np.frombuffer(ids_digest.encode(), dtype=np.uint8), status, batch.scores
    )
    run.finished_at = now
    run.save()
    ledger_append(
        tenant=tenant,
        kind="learning.backtest_run.completed",
        actor=actor,
        subject=run,
        payload={
            "run_id": run.run_id,
            **_version_ref(config_version),
            "trigger": trigger,
            "case_count": run.case_count,
            **summary,
            "results_sha256": run.results_sha256,
        },
        now=now,
    )
    return run


def backtest_run_nightly(*, tenant: Tenant, now: dt.datetime | None = None) -> BacktestRun | None:
    """The nightly run of the ACTIVE scoring version; once per version per UTC day."""
    now = now or timezone.now()
    version = active_version(tenant_id=tenant.pk, family=FAMILY)
    if version is None or not BacktestCase.objects.filter(tenant=tenant, active=True).exists():
        return None
    key = f"nightly:{now.astimezone(dt.UTC):%Y%m%d}:{version.pk}"
    return backtest_run_execute(
        tenant=tenant,
        actor=Actor.system("beat"),
        config_version=version,
        trigger=RunTrigger.NIGHTLY,
        idempotency_key=key,
        now=now,
    )


# --------------------------------------------------------------------------------------------
# Component 1: failure analysis


def _failure_filter(min_confidence: str) -> Q:
    rank = CONFIDENCE_RANK[min_confidence]
    levels = [level for level, r in CONFIDENCE_RANK.items() if r >= rank]
    return Q(status=BacktestStatus.MISS) | Q(status=BacktestStatus.ABSTAIN, confidence__in=levels)


@transaction.atomic
def failures_analyze(
    *,
    run: BacktestRun,
    actor: Actor,
    min_confidence: str = "HIGH",
    output_dir: str | Path | None = None,
    limit: int | None = None,
    now: dt.datetime | None = None,
) -> list[FailureAnalysis]:
    """Analyses every MISS and every ABSTAIN at or above ``min_confidence`` of ``run`` that
    has no analysis yet (safe to run twice). Each analysis is stored, written as
    ``failure_<case>_<run>.json`` and ``.md``, and appended to the ledger."""
    now = now or timezone.now()
    if min_confidence not in CONFIDENCE_RANK:
        raise ValidationFailed({"min_confidence": ["must be LOW, MED or HIGH"]})
    # The scheduled and a manual loop may analyse the same run at once: the tenant's ledger
    # lock, taken before reading what is pending, makes the second see the first's analyses
    # instead of failing on their unique ids.
    ledger_lock(tenant_id=run.tenant_id)
    version = run.config_version
    payload = version.payload
    pending = (
        BacktestResult.objects.filter(run=run)
        .filter(_failure_filter(min_confidence))
        .filter(failure_analysis__isnull=True)
        .select_related("case")
        .order_by("case__case_id")
    )
    if limit is not None:
        pending = pending[:limit]
    directory = artifact_dir(run.tenant, output_dir) / "reports"
    analyses, files = [], []
    for result in pending:
        case = result.case
        record = {name: getattr(case, name) for name in CASE_FIELDS}
        artifact = engine.analyze_failure(
            payload=payload,
            case=record,
            status=result.status,
            run_id=run.run_id,
            config_version=version.version,
        )
        markdown = engine.failure_markdown(artifact)
        analyses.append(
            FailureAnalysis(
                tenant_id=run.tenant_id,
                failure_id=artifact["failure_id"],
                run=run,
                case=case,
                result=result,
                artifact=artifact,
                artifact_sha256=engine.sha256_of(artifact),
                markdown=markdown,
                hypothesis=artifact["hypothesis"],
                created_at=now,
            )
        )
        files.append((directory / f"{artifact['failure_id']}.json", pretty_json(artifact)))
        files.append((directory / f"{artifact['failure_id']}.md", markdown))
    FailureAnalysis.objects.bulk_create(analyses, batch_size=1000)
    stored = {
        f.failure_id: f
        for f in FailureAnalysis.objects.filter(
            tenant_id=run.tenant_id, failure_id__in=[a.failure_id for a in analyses]
        )
    }
    for analysis in analyses:
        row = stored[analysis.failure_id]
        ledger_append(
            tenant=run.tenant_id,
            kind="learning.failure.analyzed",
            actor=actor,
            subject=row,
            payload={
                "failure_id": row.failure_id,
                "case_id": analysis.artifact["case_id"],
                "run_id": run.run_id,
                **_version_ref(version),
                "hypothesis": row.hypothesis,
                "artifact_sha256": row.artifact_sha256,
                "artifact": analysis.artifact,
            },
            now=now,
        )
    _write_on_commit(files)
    return [stored[a.failure_id] for a in analyses]


# --------------------------------------------------------------------------------------------
# Component 2: proposals


def _proposal_files(proposal: LoopProposal, output_dir) -> list[tuple[Path, str]]:
    folder = artifact_dir(proposal.tenant, output_dir) / "proposals" / proposal.proposal_id
    return [(folder / "proposal.json", pretty_json(proposal.document))]


@transaction.atomic
def proposals_generate(
    *,
    failures: Sequence[FailureAnalysis],
    actor: Actor,
    declared_threshold: float = engine.DEFAULT_DECLARED_THRESHOLD,
    runs: int = engine.DEFAULT_RUNS,
    output_dir: str | Path | None = None,
    now: dt.datetime | None = None,
) -> tuple[list[LoopProposal], list[str]]:
    """Exactly one proposal per open failure that has none yet, where a failure is a case
    failing under a base version whichever run found it (the unique pair makes a second
    impossible). Returns the proposals and the failure ids for which no bounded change turns
    the case into a HIT. Cases are loaded once per config version."""
    now = now or timezone.now()
    if not 0 < declared_threshold <= 1:
        raise ValidationFailed({"declared_threshold": ["must be in (0, 1]"]})
    if not 1 <= runs <= 20:
        raise ValidationFailed({"runs": ["must be between 1 and 20"]})
    pks = [f.pk for f in failures]
    # Loops running at once (the nightly schedule and a manual run-loop) queue here, before
    # reading what is still unproposed, so the second sees the first's proposals. It is the
    # ledger lock because the first proposal's ledger entry would take it anyway: taken there,
    # after inserting a proposal, it would deadlock against a loop waiting on that insert.
    for tenant_id in sorted(
        set(FailureAnalysis.objects.filter(pk__in=pks).values_list("tenant_id", flat=True))
    ):
        ledger_lock(tenant_id=tenant_id)
    already_proposed = LoopProposal.objects.filter(
        base_version=OuterRef("run__config_version"), case=OuterRef("case")
    )
    todo = [
        f
        for f in FailureAnalysis.objects.filter(
            pk__in=pks, state=FailureState.OPEN, proposal__isnull=True
        )
        .exclude(Exists(already_proposed))
        .select_related("run__config_version__family", "case", "tenant")
        .order_by("failure_id")
    ]
    proposed_pairs: set[tuple[int, int]] = set()
    created, unresolvable, files = [], [], []
    case_sets: dict[int, engine.CaseSet] = {}
    replays: dict[int, dict] = {}
    for failure in todo:
        version = failure.run.config_version
        if (version.pk, failure.case_id) in proposed_pairs:
            continue  # two runs' failures of one case in the same call
        if version.pk not in case_sets:
            case_sets[version.pk], _ = load_case_set(
                tenant=failure.tenant_id, payloads=[version.payload]
            )
            replays[version.pk] = {}
        cases = case_sets[version.pk]
        record = {name: getattr(failure.case, name) for name in CASE_FIELDS}
        if record["case_id"] not in cases.index:
            unresolvable.append(failure.failure_id)
            continue
        document = engine.generate_proposal(
            payload=version.payload,
            base_version=version.version,
            failure=failure.artifact,
            case=record,
            cases=cases,
            declared_threshold=declared_threshold,
            runs=runs,
            cache=replays[version.pk],
        )
        if document is None:
            unresolvable.append(failure.failure_id)
            ledger_append(
                tenant=failure.tenant_id,
                kind="learning.proposal.none",
                actor=actor,
                subject=failure,
                payload={
                    "failure_id": failure.failure_id,
                    "reason": "no bounded threshold, weight or flag rule change turns the case "
                    "into a HIT",
                    **_version_ref(version),
                },
                now=now,
            )
            continue
        proposed_payload = document.pop("proposed_payload")
        try:
            with transaction.atomic():
                proposal = LoopProposal.objects.create(
                    tenant_id=failure.tenant_id,
                    proposal_id=document["proposal_id"],
                    failure=failure,
                    case=failure.case,
                    kind=document["proposal_type"],
                    base_version=version,
                    change=document["change"],
                    proposed_payload=proposed_payload,
                    document=document,
                    document_sha256=engine.sha256_of(document),
                    declared_threshold=declared_threshold,
                    created_at=now,
                )
        except IntegrityError:
            # The constraint is the guarantee whoever writes proposals (a caller outside this
            # lock, a row written by hand): the case already has its proposal.
            continue
        proposed_pairs.add((version.pk, failure.case_id))
        ledger_append(
            tenant=failure.tenant_id,
            kind="learning.proposal.generated",
            actor=actor,
            subject=proposal,
            payload={
                "proposal_id": proposal.proposal_id,
                "source_failure_id": failure.failure_id,
                "proposal_type": proposal.kind,
                "change": proposal.change,
                "base_version": version.version,
                "base_version_pk": version.pk,
                "document_sha256": proposal.document_sha256,
                "expected_delta": document["expected_delta"],
                "validation_plan": document["validation_plan"],
            },
            now=now,
        )
        created.append(proposal)
        files.extend(_proposal_files(proposal, output_dir))
    _write_on_commit(files)
    return created, unresolvable


def proposal_generate(
    *, failure: FailureAnalysis, actor: Actor, **options: Any
) -> LoopProposal | None:
    if failure.state != FailureState.OPEN:
        raise TransitionConflict(
            f"failure {failure.failure_id} is {failure.state}", current_state=failure.state
        )
    existing = LoopProposal.objects.filter(
        Q(failure=failure) | Q(base_version=failure.run.config_version_id, case=failure.case_id)
    ).first()
    if existing is not None:
        return existing
    created, _ = proposals_generate(failures=[failure], actor=actor, **options)
    return created[0] if created else None


# --------------------------------------------------------------------------------------------
# Components 3 and 4: sandbox and gate


def _sandbox_cases(proposal: LoopProposal) -> tuple[engine.CaseSet, list[str]]:
    plan = proposal.document["validation_plan"]
    wanted = set(plan["sandbox_cases"]) | set(proposal.document["expected_delta"]["improved_cases"])
    protected = BacktestCase.objects.filter(
        tenant_id=proposal.tenant_id, active=True, protected=True
    ).values_list("case_id", flat=True)
    wanted |= set(protected) | set(plan["protected_cases"])
    cases, _ = load_case_set(
        tenant=proposal.tenant_id,
        payloads=[proposal.base_version.payload, proposal.proposed_payload],
        case_ids=sorted(wanted),
    )
    missing = sorted(wanted - set(cases.case_ids))
    return cases, missing


def sandbox_evaluate(
    *, proposal: LoopProposal, runs: int, sandbox_run_id: str
) -> tuple[dict[str, Any], dict[str, Any]]:
    """Replays the proposal's affected and protected cases (their stored features: historical
    data only) against the baseline and the in-memory proposal. Reads only."""
    cases, missing = _sandbox_cases(proposal)
    header = {
        "sandbox_run_id": sandbox_run_id,
        "proposal_id": proposal.proposal_id,
        "source_failure_id": proposal.failure.failure_id,
        "base_version": proposal.base_version.version,
        "proposal_type": proposal.kind,
        "change": proposal.change,
        "missing_cases": missing,
    }
    return engine.sandbox_replay(
        base_payload=proposal.base_version.payload,
        proposal_payload=proposal.proposed_payload,
        cases=cases,
        runs=runs,
        declared_threshold=proposal.declared_threshold,
        required_runs=proposal.document["validation_plan"]["stabilization_runs"],
        header=header,
        rent_manifest=proposal.document.get("rent_manifest"),
    )


def _lock_proposal(proposal: LoopProposal) -> LoopProposal:
    return (
        LoopProposal.objects.select_for_update(of=("self",))
        .select_related("base_version__family", "failure", "tenant")
        .get(pk=proposal.pk)
    )


@transaction.atomic
def proposal_sandbox(
    *,
    proposal: LoopProposal,
    actor: Actor,
    runs: int = engine.DEFAULT_RUNS,
    output_dir: str | Path | None = None,
    now: dt.datetime | None = None,
) -> SandboxRun:
    """PROPOSED -> SANDBOXED -> ELIGIBLE | INELIGIBLE: the sandbox replay over ``runs`` runs
    and the strict gate's verdict, stored and written as
    ``proposals/<proposal_id>/sandbox_report_<sandbox_run_id>.json``."""
    now = now or timezone.now()
    if not 1 <= runs <= 20:
        raise ValidationFailed({"runs": ["must be between 1 and 20"]})
    proposal = _lock_proposal(proposal)
    if proposal.state != ProposalState.PROPOSED:
        raise TransitionConflict(
            f"proposal {proposal.proposal_id} is {proposal.state}; only a PROPOSED proposal "
            "is sandboxed",
            current_state=proposal.state,
        )
    sandbox_run_id = f"sandbox_{proposal.proposal_id}_{proposal.sandbox_runs.count() + 1:02d}"
    report, measurements = sandbox_evaluate(
        proposal=proposal, runs=runs, sandbox_run_id=sandbox_run_id
    )
    sandbox = SandboxRun.objects.create(
        tenant_id=proposal.tenant_id,
        sandbox_run_id=sandbox_run_id,
        proposal=proposal,
        runs=runs,
        report=report,
        report_sha256=engine.sha256_of(report),
        measurements=measurements,
        promotion_eligible=report["promotion_eligible"],
        executed_at=now,
    )
    proposal.sandbox(now=now)
    if report["promotion_eligible"]:
        proposal.mark_eligible()
    else:
        proposal.mark_ineligible()
    proposal.save()
    ledger_append(
        tenant=proposal.tenant_id,
        kind="learning.proposal.sandboxed",
        actor=actor,
        subject=proposal,
        payload={
            "sandbox_run_id": sandbox_run_id,
            "proposal_id": proposal.proposal_id,
            "source_failure_id": proposal.failure.failure_id,
            "base_version": proposal.base_version.version,
            "base_version_pk": proposal.base_version_id,
            "report_sha256": sandbox.report_sha256,
            "baseline": report["baseline"],
            "proposal": report["proposal"],
            "delta": report["delta"],
            "cost_delta": report["cost_delta"],
            "gate": report["gate"],
            "promotion_eligible": report["promotion_eligible"],
            "state": proposal.state,
        },
        now=now,
    )
    folder = artifact_dir(proposal.tenant, output_dir) / "proposals" / proposal.proposal_id
    _write_on_commit([(folder / f"sandbox_report_{sandbox_run_id}.json", pretty_json(report))])
    return sandbox


def _free_version(base: ConfigVersion) -> str:
    """next_version(active), bumped again while taken (two proposals from one base)."""
    taken = set(
        ConfigVersion.objects.filter(tenant_id=base.tenant_id, family=base.family).values_list(
            "version", flat=True
        )
    )
    candidate = next_version(base.version)
    while candidate in taken:
        candidate = next_version(candidate)
    return candidate


def _ledger_seq(*, tenant_id: int, kind: str, subject) -> int | None:
    entry = ledger_for_subject(subject=subject).filter(kind=kind).order_by("-seq").first()
    return entry.seq if entry else None


@transaction.atomic
def proposal_promote(
    *,
    proposal: LoopProposal,
    actor: Actor,
    strict: bool = True,
    now: dt.datetime | None = None,
    progress: Progress = _quiet,
) -> ConfigVersion:
    """ELIGIBLE -> PROMOTED: registers the proposed payload as a new scoring version in
    PENDING_APPROVAL (source learning_loop, base = the ACTIVE version, version bumped) and
    opens its approval checkpoint; a human still approves and activates it. With ``strict``
    the sandbox replay is re-run first and must reproduce the recorded results and pass the
    gate again. The failure is marked resolved and the provenance chain is written on the
    ledger under the new version."""
    now = now or timezone.now()
    proposal = _lock_proposal(proposal)
    if proposal.state != ProposalState.ELIGIBLE:
        raise TransitionConflict(
            f"proposal {proposal.proposal_id} is {proposal.state}; only an ELIGIBLE proposal "
            "is promoted",
            current_state=proposal.state,
        )
    base = proposal.base_version
    active = active_version(tenant_id=proposal.tenant_id, family=base.family.name)
    if active is None or active.pk != base.pk:
        raise ValidationFailed(
            {
                "base_version": [
                    f"the proposal was made against v{base.version}, which is no longer the "
                    f"ACTIVE version ({'none' if active is None else 'v' + active.version}); "
                    "run the loop again"
                ]
            }
        )
    sandbox = proposal.sandbox_runs.order_by("-executed_at", "-id").first()
    if strict:
        progress(
            f"re-running the sandbox replay of {proposal.proposal_id} ({sandbox.runs} run(s)): "
            "it must reproduce the recorded results and pass the gate again"
        )
        recheck, _ = sandbox_evaluate(
            proposal=proposal, runs=sandbox.runs, sandbox_run_id=sandbox.sandbox_run_id
        )
        problems = [
            f"{line['criterion']}: {line['detail']}"
            for line in recheck["gate"]["criteria"]
            if not line["passed"]
        ]
        if (
            recheck["stabilization"]["result_hashes"][0]
            != sandbox.report["stabilization"]["result_hashes"][0]
        ):
            problems.append("the cases changed since the sandbox run: run the sandbox again")
        if problems:
            raise ValidationFailed({"strict": problems})
        progress("the replay reproduces the sandbox run and passes the gate")
    failure = FailureAnalysis.objects.select_for_update().get(pk=proposal.failure_id)
    report = sandbox.report
    progress(f"registering the proposed payload as a new {base.family.name} version")
    version = version_register(
        tenant=proposal.tenant,
        family=base.family.name,
        version=_free_version(base),
        payload=proposal.proposed_payload,
        actor=actor,
        description=(
            f"Learning loop: {proposal.document['change_description']} "
            f"(from {failure.failure_id}, sandbox {sandbox.sandbox_run_id}: pass-rate delta "
            f"{report['delta']['pass_rate_delta']:+.6f})"
        )[:2000],
        changes=[
            {
                "description": proposal.document["change_description"][:500],
                "date": now.date().isoformat(),
                "impact": "non-breaking",
                "affected_components": list(proposal.document["affected_components"]),
            }
        ],
        base_version=base,
        source=VersionSource.LEARNING_LOOP,
        submit=True,
        now=now,
    )
    proposal.promote(version=version, now=now)
    proposal.save()
    failure.resolve(now=now)
    failure.save()
    improvement = {
        "pass_rate_delta": report["delta"]["pass_rate_delta"],
        "cost_delta": {
            "time_units": report["cost_delta"]["time_units_delta"],
            "memory_kb": report["cost_delta"]["memory_kb_delta"],
        },
    }
    promoted = ledger_append(
        tenant=proposal.tenant_id,
        kind="learning.proposal.promoted",
        actor=actor,
        subject=proposal,
        payload={
            "type": "promotion",
            "proposal_id": proposal.proposal_id,
            "source_failure_id": failure.failure_id,
            "promoted_version": version.version,
            "config_version_pk": version.pk,
            "base_version": base.version,
            "improvement_delta": improvement,
            "provenance_note": proposal.document["change_description"],
            "sandbox_report_sha256": sandbox.report_sha256,
            "strict": strict,
        },
        now=now,
    )
    ledger_append(
        tenant=proposal.tenant_id,
        kind="learning.failure.resolved",
        actor=actor,
        subject=failure,
        payload={
            "failure_id": failure.failure_id,
            "proposal_id": proposal.proposal_id,
            "promoted_version": version.version,
            "config_version_pk": version.pk,
        },
        now=now,
    )
    ledger_append(
        tenant=proposal.tenant_id,
        kind="learning.provenance",
        actor=actor,
        subject=version,
        payload={
            "config_version_pk": version.pk,
            "version": version.version,
            "base_version": base.version,
            "chain": [
                {
                    "step": "failure",
                    "id": failure.failure_id,
                    "sha256": failure.artifact_sha256,
                    "ledger_seq": _ledger_seq(
                        tenant_id=proposal.tenant_id,
                        kind="learning.failure.analyzed",
                        subject=failure,
                    ),
                    "hypothesis": failure.hypothesis,
                },
                {
                    "step": "proposal",
                    "id": proposal.proposal_id,
                    "sha256": proposal.document_sha256,
                    "ledger_seq": _ledger_seq(
                        tenant_id=proposal.tenant_id,
                        kind="learning.proposal.generated",
                        subject=proposal,
                    ),
                    "change": proposal.change,
                },
                {
                    "step": "sandbox",
                    "id": sandbox.sandbox_run_id,
                    "sha256": sandbox.report_sha256,
                    "ledger_seq": _ledger_seq(
                        tenant_id=proposal.tenant_id,
                        kind="learning.proposal.sandboxed",
                        subject=proposal,
                    ),
                    "gate": [
                        {"criterion": c["criterion"], "passed": c["passed"]}
                        for c in report["gate"]["criteria"]
                    ],
                },
                {"step": "promotion", "id": proposal.proposal_id, "ledger_seq": promoted.seq},
            ],
        },
        now=now,
    )
    return version


# --------------------------------------------------------------------------------------------
# The whole loop


@dataclass
class LoopSummary:
    run_id: str | None = None
    pass_rate: float | None = None
    failures: list[str] = field(default_factory=list)
    proposals: list[str] = field(default_factory=list)
    unresolvable: list[str] = field(default_factory=list)
    sandboxed: dict[str, str] = field(default_factory=dict)
    promoted: dict[str, str] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {
            "run_id": self.run_id,
            "pass_rate": self.pass_rate,
            "failures": self.failures,
            "proposals": self.proposals,
            "unresolvable": self.unresolvable,
            "sandboxed": self.sandboxed,
            "promoted": self.promoted,
        }


def learning_loop_run(
    *,
    tenant: Tenant,
    actor: Actor = LOOP_ACTOR,
    run: BacktestRun | None = None,
    new_run: bool = True,
    min_confidence: str = "HIGH",
    runs: int = engine.DEFAULT_RUNS,
    declared_threshold: float = engine.DEFAULT_DECLARED_THRESHOLD,
    auto_promote: bool = False,
    max_proposals: int | None = 200,
    output_dir: str | Path | None = None,
    progress: Progress = _quiet,
    now: dt.datetime | None = None,
) -> LoopSummary:
    """analyze -> propose -> sandbox -> (promote only with ``auto_promote``). Each step is
    its own transaction, so a failure in one proposal's sandbox does not undo the analyses.
    Without ``run`` it backtests the ACTIVE version first (``new_run``) or takes the latest
    run of the ACTIVE version."""
    now = now or timezone.now()
    summary = LoopSummary()
    if run is None:
        version = active_version(tenant_id=tenant.pk, family=FAMILY)
        if version is None:
            progress("no ACTIVE scoring version: nothing to do")
            return summary
        if not new_run:
            run = BacktestRun.objects.filter(tenant=tenant, config_version=version).first()
        if run is None:
            progress(f"[1/5] backtesting v{version.version}")
            run = backtest_run_execute(
                tenant=tenant, actor=actor, config_version=version, trigger=RunTrigger.LOOP, now=now
            )
    summary.run_id, summary.pass_rate = run.run_id, run.pass_rate
    progress(
        f"[1/5] run {run.run_id}: {run.case_count} cases, pass rate {run.pass_rate:.4f} "
        f"({run.hit_count} HIT, {run.miss_count} MISS, {run.abstain_count} ABSTAIN)"
    )
    failures_analyze(
        run=run, actor=actor, min_confidence=min_confidence, output_dir=output_dir, now=now
    )
    open_failures = list(
        FailureAnalysis.objects.filter(run=run, state=FailureState.OPEN)
        .select_related("proposal")
        .order_by("failure_id")
    )
    summary.failures = [f.failure_id for f in open_failures]
    progress(f"[2/5] failure analyses: {len(open_failures)} open")
    without_proposal = [f for f in open_failures if not hasattr(f, "proposal")]
    if max_proposals is not None and len(without_proposal) > max_proposals:
        progress(
            f"[3/5] {len(without_proposal)} failures without a proposal: the first "
            f"{max_proposals} now, the rest on the next run"
        )
        without_proposal = without_proposal[:max_proposals]
    created, unresolvable = proposals_generate(
        failures=without_proposal,
        actor=actor,
        declared_threshold=declared_threshold,
        runs=runs,
        output_dir=output_dir,
        now=now,
    )
    summary.unresolvable = unresolvable
    # This run's open failures' proposals, including one an earlier run of the same version
    # made for the same case (which is why this run made none).
    proposals = LoopProposal.objects.filter(
        Q(failure__in=open_failures)
        | Q(
            base_version=run.config_version_id,
            case__in=FailureAnalysis.objects.filter(run=run, state=FailureState.OPEN).values(
                "case"
            ),
        )
    )
    pending = list(
        proposals.filter(state=ProposalState.PROPOSED)
        .select_related("tenant")
        .order_by("proposal_id")
    )
    summary.proposals = sorted(proposals.values_list("proposal_id", flat=True))
    progress(
        f"[3/5] proposals: {len(created)} new, {len(unresolvable)} failure(s) without a bounded fix"
    )
    for index, proposal in enumerate(pending, start=1):
        try:
            sandbox = proposal_sandbox(
                proposal=proposal, actor=actor, runs=runs, output_dir=output_dir, now=now
            )
        except TransitionConflict as exc:
            # A loop running at the same time sandboxed it first: its verdict stands.
            summary.sandboxed[proposal.proposal_id] = exc.current_state
            progress(f"[4/5] sandbox {index}/{len(pending)} {proposal.proposal_id}: {exc}")
            continue
        verdict = "ELIGIBLE" if sandbox.promotion_eligible else "INELIGIBLE"
        summary.sandboxed[proposal.proposal_id] = verdict
        progress(
            f"[4/5] sandbox {index}/{len(pending)} {proposal.proposal_id}: {verdict} "
            f"(pass-rate delta {sandbox.report['delta']['pass_rate_delta']:+.4f})"
        )
    if not auto_promote:
        progress("[5/5] promotion skipped (--auto-promote false): a reviewer decides")
        return summary
    eligible = proposals.filter(state=ProposalState.ELIGIBLE).order_by("proposal_id")
    for proposal in eligible:
        try:
            version = proposal_promote(proposal=proposal, actor=actor, strict=True, now=now)
        except (ValidationFailed, TransitionConflict) as exc:
            progress(f"[5/5] {proposal.proposal_id} not promoted: {getattr(exc, 'errors', exc)}")
            continue
        summary.promoted[proposal.proposal_id] = version.version
        progress(f"[5/5] {proposal.proposal_id} promoted as v{version.version} (PENDING_APPROVAL)")
    return summary


def learning_loop_nightly(*, now: dt.datetime | None = None) -> dict[str, Any]:
    """The scheduled loop for every tenant with an ACTIVE scoring version; never promotes.
    Safe to run twice: it reuses the latest run and only analyzes and proposes what is
    missing, and sandboxes only PROPOSED proposals."""
    done = {}
    tenant_ids = (
        ConfigVersion.objects.filter(family__name=FAMILY, state=VersionState.ACTIVE)
        .values_list("tenant_id", flat=True)
        .distinct()
    )
    for tenant in Tenant.objects.filter(pk__in=tenant_ids, backtest_cases__active=True).distinct():
        done[tenant.slug] = learning_loop_run(
            tenant=tenant, new_run=False, auto_promote=False, now=now
        ).as_dict()
    return done
