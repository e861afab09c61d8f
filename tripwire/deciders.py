"""How tripwire subjects are decided from the checkpoint queue (registered in
``TripwireConfig.ready``).

Approving a ``tripwire_triggered`` checkpoint acknowledges the tripwire (re-arming it, with
the reviewer's reason); there is nothing to reject, because its action has already fired:
what a reviewer may want instead (re-enabling a throttled risk policy, changing the policy)
is decided on the KPI page. A drift alert is acknowledged the same way."""

from __future__ import annotations

from django.urls import reverse

from governance.control_room import admin_url
from governance.kernel.checkpoints import checkpoint_subject_decider_register
from governance.models import CheckpointType
from tripwire.models import DriftAlert, RegressionPolicy


def register() -> None:
    from tripwire.services.drift import drift_alert_acknowledge
    from tripwire.services.regression import regression_acknowledge

    checkpoint_subject_decider_register(
        subject_type=RegressionPolicy._meta.label_lower,
        checkpoint_types=(CheckpointType.TRIPWIRE_TRIGGERED,),
        approve=lambda policy, user, reason: regression_acknowledge(
            policy=policy, user=user, reason=reason
        ),
        reject=None,
        refusal="a fired tripwire's action already happened: acknowledge it (approve), and "
        "re-enable what it throttled or change the policy on its KPI page",
        url=lambda policy: reverse("govloop-kpi", args=[policy.pk]),
    )
    checkpoint_subject_decider_register(
        subject_type=DriftAlert._meta.label_lower,
        checkpoint_types=(CheckpointType.DRIFT_ALERT,),
        approve=lambda alert, user, reason: drift_alert_acknowledge(
            alert=alert, user=user, reason=reason
        ),
        reject=None,
        refusal="a drift alert is acknowledged (approve), not rejected: the drift was measured",
        url=lambda alert: admin_url(DriftAlert, "change", alert.pk) or "",
    )
