from tripwire.tasks.drift import *  # noqa: F403
from tripwire.tasks.regression import *  # noqa: F403
