from learning.models.events import *  # noqa: F403
from learning.models.loop import *  # noqa: F403
from learning.models.proofs import *  # noqa: F403
