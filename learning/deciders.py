"""How a demoted learned policy's checkpoint is decided (registered in
``LearningConfig.ready``).

Neither queue button decides it. The demotion is the pre-declared safe action and has already
happened; what remains are two different decisions, reinstating the policy (overruling the
demotion, a human act that loosens) or retiring it, and "approve" or "reject" would not say
which. Both are taken on the policy's regret page, beside the regret evidence; each resolves
the checkpoint (reinstating rejects the demotion, retiring accepts it)."""

from __future__ import annotations

from django.urls import reverse

from governance.kernel.checkpoints import checkpoint_subject_decider_register
from governance.models import CheckpointType
from learning.models import LearnedPolicy


def register() -> None:
    checkpoint_subject_decider_register(
        subject_type=LearnedPolicy._meta.label_lower,
        checkpoint_types=(CheckpointType.POLICY_DEMOTED,),
        approve=None,
        reject=None,
        refusal="reinstate or retire the policy on its regret page",
        url=lambda policy: reverse("govloop-regret", args=[policy.pk]),
    )
