"""The decision rules as invariants: a hypothesis state machine drives the API with a machine,
an author, two reviewers and a viewer through random sequences of register, edit, submit,
approve, reject, activate, roll back, rebase, checkpoint decisions and settings changes, and
after every step checks what govloop promises (SPEC 4, "Decisions"):

- no ACTIVE version without ``approvals_required`` approvals by reviewers none of whom
  contributed to its payload;
- every state change has exactly one ledger entry, naming an authenticated identity;
- no loosened safety setting without a second reviewer;
- checkpoints and their subjects agree;
- the ledger verifies.
"""

from __future__ import annotations

import contextlib
import copy
import tempfile
from collections import Counter
from pathlib import Path

import pytest
from django.contrib.auth.models import Group
from django.db import transaction
from django.test import override_settings
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)
from rest_framework.test import APIClient

from governance.errors import DomainError
from governance.models import (
    Checkpoint,
    CheckpointState,
    CheckpointType,
    ConfigVersion,
    LedgerEntry,
    SettingsChange,
    SettingsChangeState,
    VersionState,
)
from governance.services.ledger import Actor, ledger_anchor_head, ledger_verify
from governance.services.settings import config_family_update
from governance.services.tenancy import api_token_create
from tests.factories import TenantFactory, UserFactory
from tripwire.models import RegressionPolicy

FAMILY = "scoring"
HUMANS = ("alex", "rita", "sam")
WHO = ("machine", *HUMANS, "vic")
BASE_PAYLOAD = {
    "weights": {"risk_signal": 0.7, "velocity": 0.3},
    "thresholds": [0.4, 0.7],
    "bands": ["LOW", "MEDIUM", "HIGH"],
}
# (act, status) -> count over the whole run: the test also proves the machine reached the
# interesting states (approvals and activations that succeeded), not only refusals.
OUTCOMES: Counter[tuple[str, int]] = Counter()
STATEFUL_MODELS = {
    ConfigVersion._meta.label_lower: ConfigVersion,
    Checkpoint._meta.label_lower: Checkpoint,
    SettingsChange._meta.label_lower: SettingsChange,
}


def _states() -> dict[tuple[str, str], str]:
    return {
        (label, str(pk)): state
        for label, model in STATEFUL_MODELS.items()
        for pk, state in model.objects.values_list("pk", "state")
    }


class DecisionsMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        # Each run is one savepoint inside the test's transaction, rolled back at teardown.
        self._atomic = transaction.atomic()
        self._atomic.__enter__()
        # Each run gets its own anchors file: SQLite hands the rolled-back tenant's id to the
        # next run's tenant, whose chain the previous run's file anchors would contradict.
        self._anchors = tempfile.TemporaryDirectory()
        self._settings = override_settings(
            LEDGER_ANCHOR_FILE=Path(self._anchors.name) / "anchors.jsonl"
        )
        self._settings.enable()
        self.tenant = TenantFactory()
        self.clients: dict[str, APIClient] = {}
        self.labels = {"token:machine"}
        _, raw = api_token_create(tenant=self.tenant, name="machine", actor=Actor.system("t"))
        self.clients["machine"] = self._client(raw)
        self.actors = {"machine": Actor(kind="token", name="machine")}
        for name in HUMANS:
            user = UserFactory(username=f"{name}-{self.tenant.pk}")
            user.groups.add(Group.objects.get(name="reviewer"))
            user.memberships.create(tenant=self.tenant)
            _, raw = api_token_create(
                tenant=self.tenant, name=name, user=user, actor=Actor.system("t")
            )
            self.clients[name] = self._client(raw)
            self.labels.add(f"user:{user.username}")
            self.actors[name] = Actor.for_user(user)
        viewer = UserFactory(username=f"vic-{self.tenant.pk}")
        viewer.groups.add(Group.objects.get(name="viewer"))
        viewer.memberships.create(tenant=self.tenant)
        client = APIClient()
        client.force_login(viewer)
        client.credentials(HTTP_X_TENANT=self.tenant.slug)
        self.clients["vic"] = client
        self.labels.add(f"user:{viewer.username}")
        self.actors["vic"] = Actor.for_user(viewer)
        self.counter = 0
        self.policy_target = {"domain": "checkout", "metric": "approval_rate"}
        self.seq = 0
        self.states = _states()
        self.policy_values = self._policy_values()

    def teardown(self) -> None:
        transaction.set_rollback(True)
        self._atomic.__exit__(None, None, None)
        self._settings.disable()
        self._anchors.cleanup()

    @staticmethod
    def _client(raw: str) -> APIClient:
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {raw}")
        return client

    def _post(self, who: str, path: str, body: dict | None = None):
        response = self.clients[who].post(path, body or {}, format="json")
        assert response.status_code < 500, (who, path, response.status_code, response.content)
        # --hypothesis-show-statistics shows which acts succeeded and which were refused.
        act = path.rstrip("/").rsplit("/", 1)[-1]
        OUTCOMES[(act if not act.isdigit() else "register", response.status_code)] += 1
        return response

    def _versions(self) -> list[int]:
        return list(ConfigVersion.objects.filter(tenant=self.tenant).values_list("pk", flat=True))

    def _policy_values(self) -> dict | None:
        policy = RegressionPolicy.objects.filter(tenant=self.tenant, **self.policy_target).first()
        if policy is None:
            return None
        return {"enabled": policy.enabled, "max_drop_fraction": policy.max_drop_fraction}

    # --- rules ----------------------------------------------------------------------------

    @rule(who=st.sampled_from(WHO), submit=st.booleans(), tweak=st.integers(0, 20), data=st.data())
    def register(self, who, submit, tweak, data):
        self.counter += 1
        active = ConfigVersion.objects.filter(tenant=self.tenant, state=VersionState.ACTIVE).first()
        known = list(ConfigVersion.objects.filter(tenant=self.tenant))
        base = data.draw(st.sampled_from([active, *known]) if known else st.just(None))
        payload = copy.deepcopy(base.payload if base else BASE_PAYLOAD)
        payload["thresholds"] = [round(0.3 + tweak / 100, 2), 0.7]
        body = {
            "family": FAMILY,
            "version": f"1.{self.counter}.0",
            "payload": payload,
            "submit": submit,
        }
        if base is not None:
            body["base_version"] = base.version
        self._post(who, "/api/governance/config-versions/", body)

    @rule(
        author=st.sampled_from(["machine", "alex"]),
        approver=st.sampled_from(HUMANS),
        activator=st.sampled_from(HUMANS),
        tweak=st.integers(0, 20),
    )
    def propose_approve_activate(self, author, approver, activator, tweak):
        """The common path as one compound act (each step through the API), so that random
        sequences also reach ACTIVE versions often; refusals on the way are fine."""
        self.counter += 1
        active = ConfigVersion.objects.filter(tenant=self.tenant, state=VersionState.ACTIVE).first()
        payload = copy.deepcopy(active.payload if active else BASE_PAYLOAD)
        payload["thresholds"] = [round(0.3 + tweak / 100, 2), 0.7]
        body = {"family": FAMILY, "version": f"1.{self.counter}.0", "payload": payload}
        if active is not None:
            body["base_version"] = active.version
        created = self._post(author, "/api/governance/config-versions/", {**body, "submit": True})
        if created.status_code != 201:
            return
        pk = created.json()["id"]
        base = f"/api/governance/config-versions/{pk}"
        self._post(approver, f"{base}/approve/", {"reason": f"approve by {approver}"})
        self._post(
            activator,
            f"{base}/activate/",
            {"reason": f"activate by {activator}", "acknowledge_breaking": True},
        )

    @precondition(lambda self: self._versions())
    @rule(who=st.sampled_from(WHO), tweak=st.integers(0, 20), data=st.data())
    def edit(self, who, tweak, data):
        pk = data.draw(st.sampled_from(self._versions()))
        payload = copy.deepcopy(ConfigVersion.objects.get(pk=pk).payload)
        payload["weights"]["velocity"] = round(0.1 + tweak / 100, 2)
        self._post(who, f"/api/governance/config-versions/{pk}/edit-payload/", {"payload": payload})

    @precondition(lambda self: self._versions())
    @rule(
        who=st.sampled_from(WHO),
        act=st.sampled_from(["submit", "approve", "reject", "activate", "rollback", "rebase"]),
        data=st.data(),
    )
    def decide_version(self, who, act, data):
        pk = data.draw(st.sampled_from(self._versions()))
        body = {} if act == "submit" else {"reason": f"{act} by {who}"}
        if act == "activate":
            body["acknowledge_breaking"] = True
        self._post(who, f"/api/governance/config-versions/{pk}/{act}/", body)

    @precondition(lambda self: Checkpoint.objects.exists())
    @rule(who=st.sampled_from(WHO), approve=st.booleans(), data=st.data())
    def decide_checkpoint(self, who, approve, data):
        pk = data.draw(
            st.sampled_from(
                list(Checkpoint.objects.filter(tenant=self.tenant).values_list("pk", flat=True))
                or [0]
            )
        )
        action = "approve" if approve else "reject"
        self._post(
            who, f"/api/governance/checkpoints/{pk}/{action}/", {"reason": f"{action} by {who}"}
        )

    @rule(
        who=st.sampled_from(WHO),
        enabled=st.booleans(),
        max_drop=st.sampled_from([0.1, 0.2, 0.5, 1.0]),
    )
    def change_tripwire(self, who, enabled, max_drop):
        self._post(
            who,
            "/api/governance/regression/policies/upsert",
            {
                **self.policy_target,
                "enabled": enabled,
                "max_drop_fraction": max_drop,
                "reason": f"tripwire change by {who}",
            },
        )

    @precondition(lambda self: SettingsChange.objects.exists())
    @rule(who=st.sampled_from(WHO), approve=st.booleans(), data=st.data())
    def decide_settings_change(self, who, approve, data):
        pk = data.draw(
            st.sampled_from(
                list(SettingsChange.objects.filter(tenant=self.tenant).values_list("pk", flat=True))
            )
        )
        action = "approve" if approve else "reject"
        self._post(
            who,
            f"/api/governance/settings-changes/{pk}/{action}/",
            {"reason": f"{action} by {who}"},
        )

    @rule(who=st.sampled_from(WHO), approvals=st.integers(1, 2))
    def change_approvals_required(self, who, approvals):
        # Lowering approvals_required loosens (a change request); raising it tightens. No
        # endpoint writes it: the service is the route (the admin form saves through it too).
        with contextlib.suppress(DomainError):
            config_family_update(
                tenant=self.tenant,
                name=FAMILY,
                actor=self.actors[who],
                reason=f"approvals by {who}",
                approvals_required=approvals,
            )

    # --- invariants -------------------------------------------------------------------------

    @invariant()
    def active_versions_have_their_approvals_from_non_contributors(self):
        for version in ConfigVersion.objects.filter(
            tenant=self.tenant, state=VersionState.ACTIVE
        ).select_related("family"):
            approvers = list(
                version.approvals.filter(voided_at__isnull=True).select_related("reviewer")
            )
            labels = {f"user:{a.reviewer.username}" for a in approvers}
            assert len(labels) >= version.family.approvals_required or self._required_was_lower(
                version, len(labels)
            ), (version, labels)
            assert not labels & set(version.contributors), (version, labels, version.contributors)
            assert all(a.reviewer.has_perm("governance.review") for a in approvers)

    def _required_was_lower(self, version: ConfigVersion, count: int) -> bool:
        # A version approved while the family required fewer approvals keeps its approval:
        # approvals_required applies to approvals given after it changed.
        approved = LedgerEntry.objects.filter(
            tenant=self.tenant,
            kind="version.approved",
            subject_id=str(version.pk),
        ).first()
        return approved is not None and approved.payload.get("required", 1) <= count

    @invariant()
    def every_state_change_has_exactly_one_entry_naming_an_identity(self):
        new_entries = list(LedgerEntry.objects.filter(tenant=self.tenant, seq__gt=self.seq))
        for entry in new_entries:
            assert entry.actor in self.labels or entry.actor.startswith("system:"), entry.actor
        states = _states()
        for key, state in states.items():
            if key in self.states and self.states[key] != state:
                about = [e for e in new_entries if (e.subject_type, e.subject_id) == key]
                assert len(about) == 1, (key, self.states[key], state, [e.kind for e in about])
        self.states = states
        if new_entries:
            self.seq = max(e.seq for e in new_entries)

    @invariant()
    def no_loosened_tripwire_without_a_second_reviewer(self):
        values = self._policy_values()
        before = self.policy_values
        if before is not None and values is not None:
            loosened = (before["enabled"] and not values["enabled"]) or (
                values["max_drop_fraction"] > before["max_drop_fraction"]
            )
            if loosened:
                applied = SettingsChange.objects.filter(
                    tenant=self.tenant,
                    setting="regression_policy",
                    state=SettingsChangeState.APPLIED,
                ).order_by("-decided_at", "-pk")
                change = applied.first()
                assert change is not None, (before, values)
                assert change.decided_by is not None
                assert f"user:{change.decided_by.username}" != change.requested_by_label
        self.policy_values = values

    @invariant()
    def checkpoints_and_subjects_agree(self):
        pending = Checkpoint.objects.filter(tenant=self.tenant, state=CheckpointState.PENDING)
        for version in ConfigVersion.objects.filter(tenant=self.tenant):
            open_ = pending.filter(
                checkpoint_type=CheckpointType.CONFIG_APPROVAL,
                subject_type=ConfigVersion._meta.label_lower,
                subject_id=str(version.pk),
            ).count()
            expected = 1 if version.state == VersionState.PENDING_APPROVAL else 0
            assert open_ == expected, (version, version.state, open_)
        for change in SettingsChange.objects.filter(tenant=self.tenant):
            open_ = pending.filter(
                checkpoint_type=CheckpointType.SETTINGS_CHANGE,
                subject_type=SettingsChange._meta.label_lower,
                subject_id=str(change.pk),
            ).count()
            expected = 1 if change.state == SettingsChangeState.PENDING else 0
            assert open_ == expected, (change, change.state, open_)

    @invariant()
    def the_ledger_verifies(self):
        # Anchoring runs on commit, which the test's transaction never reaches: anchor here.
        ledger_anchor_head(tenant_id=self.tenant.pk)
        result = ledger_verify(tenant_id=self.tenant.pk)
        assert result.ok, result


@pytest.mark.django_db
def test_the_decision_rules_hold_for_any_sequence_of_acts():
    OUTCOMES.clear()
    run_state_machine_as_test(
        DecisionsMachine,
        settings=settings(
            max_examples=12,
            stateful_step_count=25,
            deadline=None,
            suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
        ),
    )
    print("\n".join(f"{act} {status}: {n}" for (act, status), n in sorted(OUTCOMES.items())))
    for act in ("approve", "activate", "edit-payload", "upsert"):
        assert OUTCOMES[(act, 200)] > 0, f"no {act} succeeded: {sorted(OUTCOMES.items())}"
    assert OUTCOMES[("approve", 403)] > 0, "four eyes never refused anyone"
