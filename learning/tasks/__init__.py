from learning.tasks.events import *  # noqa: F403
from learning.tasks.loop import *  # noqa: F403
from learning.tasks.proofs import *  # noqa: F403
