from tripwire.models.drift import *  # noqa: F403
from tripwire.models.regression import *  # noqa: F403
