"""How governance's own subjects are decided from the checkpoint queue (registered in
``GovernanceConfig.ready``): approving a ``config_approval`` checkpoint approves the version
through the version service, four eyes and approvals required included; a ``settings_change``
checkpoint approves or rejects the change request through the settings kernel."""

from __future__ import annotations

from governance.control_room import admin_url, decide_url
from governance.kernel.checkpoints import checkpoint_subject_decider_register
from governance.models import CheckpointType, ConfigVersion, SettingsChange


def register() -> None:
    from governance.kernel import settings as settings_kernel
    from governance.services import versions

    checkpoint_subject_decider_register(
        subject_type=ConfigVersion._meta.label_lower,
        checkpoint_types=(CheckpointType.CONFIG_APPROVAL,),
        approve=lambda version, user, reason: versions.version_approve(
            version=version, user=user, reason=reason
        ),
        reject=lambda version, user, reason: versions.version_reject(
            version=version, user=user, reason=reason
        ),
        url=decide_url,
    )
    checkpoint_subject_decider_register(
        subject_type=SettingsChange._meta.label_lower,
        checkpoint_types=(CheckpointType.SETTINGS_CHANGE,),
        approve=lambda change, user, reason: settings_kernel.settings_change_approve(
            change=change, user=user, reason=reason
        ),
        reject=lambda change, user, reason: settings_kernel.settings_change_reject(
            change=change, user=user, reason=reason
        ),
        url=lambda change: admin_url(SettingsChange, "change", change.pk) or "",
    )
