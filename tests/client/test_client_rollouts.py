"""Issue 18's acceptance through the Python client against the real server: a simulated
governed system scores its cases locally (following the rollout's split from the cached,
ETag-revalidated config read), records each decision with the version that produced it and
its outcome; the rollout analysis (the beat's service, with ``now`` past each stage's minimum
duration) aborts a worse candidate in the first stage and takes an equal one to ACTIVE."""

from __future__ import annotations

import datetime as dt

import httpx
import pytest

from calibration.models import Decision
from governance.models import (
    Checkpoint,
    CheckpointPriority,
    CheckpointState,
    ConfigVersion,
    Rollout,
    RolloutState,
    VersionState,
)
from governance.services.rollouts import rollout_analyze, rollout_start
from govloop_client import Client, in_candidate_cohort
from tests.factories.rollouts import T0, Outcomes, make_plan, make_versions

pytestmark = pytest.mark.django_db(transaction=True)

FEATURES = {"risk_signal": 0.42, "velocity": 0.3}
REVALIDATE = 5.0
CONFIG_PATH = "/api/governance/config/scoring/active"


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class Recording(httpx.BaseTransport):
    def __init__(self) -> None:
        self.inner = httpx.HTTPTransport()
        self.calls: list[tuple[str, str, int]] = []

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        response = self.inner.handle_request(request)
        response.read()
        self.calls.append((request.method, request.url.path, response.status_code))
        return response

    def config_reads(self) -> list[int]:
        return [status for method, path, status in self.calls if path == CONFIG_PATH]


class GovernedSystem:
    """Scores cases through the client with their ids, records each decision (the client
    names the version) with an outcome at the cohort's exact success rate, and checks that
    a case's assignment never changes within a stage and that once exposed it stays
    exposed while the rollout runs."""

    def __init__(self, client: Client, clock: Clock, *, baseline: float, candidate: float):
        self.client, self.clock = client, clock
        self.outcomes = Outcomes(baseline=baseline, candidate=candidate)
        self.count = 0
        self.stage_assignments: dict[tuple[int, int], dict[str, str]] = {}
        self.exposed: set[str] = set()
        self.versions_seen: list[str] = []

    def revalidate(self) -> None:
        """Time passes beyond the client's revalidation interval."""
        self.clock.now += REVALIDATE + 0.1

    def serve(self, n: int, at: dt.datetime) -> dict[str, int]:
        split = self.client.config().rollout
        stage = (split.id, split.stage) if split else (0, -1)
        seen = self.stage_assignments.setdefault(stage, {})
        per_version: dict[str, int] = {}
        for _ in range(n):
            case = f"case-{self.count:06d}"
            self.count += 1
            scored = self.client.score(FEATURES, client_id=case)
            seen[case] = scored.config_version
            per_version[scored.config_version] = per_version.get(scored.config_version, 0) + 1
            if scored.cohort == "candidate":
                self.exposed.add(case)
            self.client.record_decision(
                scored,
                client_id=f"{case}-r{stage[0]}s{stage[1] + 1}",
                decided_at=at,
                was_correct=self.outcomes.next(scored.cohort or "baseline"),
            )
        # Every case met in this stage is scored again: same version as before.
        for case, version in seen.items():
            again = self.client.score(FEATURES, client_id=case)
            assert again.config_version == version, (case, stage)
            if split is not None and case in self.exposed:
                assert again.cohort == "candidate", (case, stage)
        self.client.flush()
        assert not self.client.rejected
        return per_version


@pytest.fixture
def versions(tenant, reviewer):
    return make_versions(tenant=tenant, reviewer=reviewer)


@pytest.fixture
def transport():
    return Recording()


@pytest.fixture
def clock():
    return Clock()


@pytest.fixture
def client(live_server, machine_token, transport, clock):
    client = Client(
        live_server.url,
        machine_token,
        revalidate_after=REVALIDATE,
        max_stale=60.0,
        background=False,
        batch_size=1000,
        transport=transport,
        clock=clock,
        sleep=lambda seconds: None,
    )
    yield client
    client._http.close()


def test_the_client_scores_each_case_with_its_cohorts_version_as_the_server_does(
    client, transport, api, versions, reviewer
):
    current, candidate = versions
    rollout = rollout_start(rollout=make_plan(candidate), user=reviewer, reason="canary", now=T0)
    config = client.config()
    assert config.version == current.version
    assert config.rollout is not None
    assert (config.rollout.id, config.rollout.percent) == (rollout.pk, 5)
    assert config.rollout.candidate_version == candidate.version
    reads = len(transport.config_reads())
    by_cohort: dict[str, int] = {}
    for i in range(400):
        case = f"case-{i:04d}"
        scored = client.score(FEATURES, client_id=case)
        expected = in_candidate_cohort(rollout_id=rollout.pk, client_id=case, percent=5)
        assert scored.cohort == ("candidate" if expected else "baseline")
        assert scored.rollout_id == rollout.pk
        by_cohort[scored.cohort] = by_cohort.get(scored.cohort, 0) + 1
        if i < 40 or expected:
            # The server's score endpoint follows the same split, with the same scorer.
            served = api.post(
                "/api/calibration/score", {"features": FEATURES, "client_id": case}, format="json"
            ).json()
            assert served["version"]["version"] == scored.config_version
            assert served["rollout"]["cohort"] == scored.cohort
            assert served["score"] == scored.result.score
    assert by_cohort["candidate"] > 0 and by_cohort["baseline"] > by_cohort["candidate"]
    # No HTTP call per case: the config was read once, then served from the cache.
    assert len(transport.config_reads()) == reads
    # Without a case id the ACTIVE version applies.
    assert client.score(FEATURES).config_version == current.version


def test_a_candidate_ten_points_worse_is_aborted_in_the_first_stage_and_the_client_returns(
    client, clock, transport, versions, reviewer, tenant
):
    current, candidate = versions
    rollout = rollout_start(rollout=make_plan(candidate), user=reviewer, reason="canary", now=T0)
    system = GovernedSystem(client, clock, baseline=0.8, candidate=0.7)
    exposure = [rollout.percent]

    analysis = None
    for tick in range(1, 9):
        at = T0 + dt.timedelta(minutes=5 * tick)
        served = system.serve(1000, at)
        assert served.get(candidate.version, 0) > 0  # the client followed the split
        analysis = rollout_analyze(rollout=rollout.pk, now=at)
        rollout.refresh_from_db()
        exposure.append(rollout.percent)
        system.revalidate()
        if analysis["decision"] == "abort":
            break

    assert analysis is not None and analysis["decision"] == "abort"
    assert analysis["stage"] == 0
    assert rollout.state == RolloutState.ABORTED and rollout.percent == 0
    # Exposure never shrank before the abort.
    assert exposure[:-1] == [5] * (len(exposure) - 1) and exposure[-1] == 0
    # The decisions the server stored carry the version the client used.
    stored = Decision.objects.filter(tenant=tenant, config_version=candidate.version)
    assert stored.exists()
    assert set(stored.values_list("config_version_ref_id", flat=True)) == {candidate.pk}

    checkpoint = Checkpoint.objects.get(tenant=tenant, checkpoint_type="rollout_aborted")
    assert checkpoint.state == CheckpointState.PENDING
    assert checkpoint.priority == CheckpointPriority.CRITICAL and checkpoint.blocking

    # After its revalidation interval the client's copy has no split: the ETag changed.
    config = client.config()
    assert config.rollout is None and config.version == current.version
    assert transport.config_reads()[-1] == 200
    for i in range(system.count):
        scored = client.score(FEATURES, client_id=f"case-{i:06d}")
        assert scored.config_version == current.version and scored.cohort is None
    assert ConfigVersion.objects.get(pk=current.pk).state == VersionState.ACTIVE
    assert ConfigVersion.objects.get(pk=candidate.pk).state == VersionState.APPROVED


def test_an_equal_candidate_advances_through_every_stage_to_active_with_the_client_following(
    client, clock, transport, versions, reviewer, tenant
):
    current, candidate = versions
    rollout = rollout_start(rollout=make_plan(candidate), user=reviewer, reason="canary", now=T0)
    system = GovernedSystem(client, clock, baseline=0.8, candidate=0.8)
    exposure, client_exposure = [rollout.percent], []

    at = T0
    for _ in range(12):
        at += dt.timedelta(minutes=11)
        split = client.config().rollout
        assert split is not None and split.percent == exposure[-1]  # the client follows
        client_exposure.append(split.percent)
        system.serve(2000, at)
        rollout_analyze(rollout=rollout.pk, now=at)
        rollout.refresh_from_db()
        exposure.append(rollout.percent)
        system.revalidate()
        if rollout.state != RolloutState.RUNNING:
            break

    assert rollout.state == RolloutState.COMPLETED
    assert exposure == sorted(exposure) and exposure[-1] == 100
    assert sorted(set(client_exposure)) == [5, 25, 50]
    assert [e["event"] for e in rollout.history if e["event"] != "inconclusive"] == [
        "started",
        "advanced",
        "advanced",
        "completed",
    ]
    assert ConfigVersion.objects.get(pk=candidate.pk).state == VersionState.ACTIVE
    assert ConfigVersion.objects.get(pk=current.pk).state == VersionState.SUPERSEDED
    assert not Rollout.objects.filter(state=RolloutState.ABORTED).exists()

    # The client now runs the new ACTIVE version for every case, with no split.
    config = client.config()
    assert config.version == candidate.version and config.rollout is None
    for i in range(0, system.count, 97):
        scored = client.score(FEATURES, client_id=f"case-{i:06d}")
        assert scored.config_version == candidate.version and scored.cohort is None
    # Config reads: one per revalidation, never one per case.
    assert len(transport.config_reads()) <= len(exposure) + 2


def test_the_etag_changes_with_the_rollouts_stage_and_a_304_keeps_the_split(
    client, clock, transport, versions, reviewer
):
    _current, candidate = versions
    client.config()
    before = client.config().etag
    rollout = rollout_start(rollout=make_plan(candidate), user=reviewer, reason="canary", now=T0)
    clock.now += REVALIDATE + 0.1
    config = client.config()
    assert transport.config_reads()[-1] == 200
    assert config.etag != before and config.rollout.id == rollout.pk
    clock.now += REVALIDATE + 0.1
    again = client.config()
    assert transport.config_reads()[-1] == 304
    assert again.rollout == config.rollout
