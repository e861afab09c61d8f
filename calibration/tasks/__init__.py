from calibration.tasks.patterns import *  # noqa: F403
from calibration.tasks.pipeline import *  # noqa: F403
from calibration.tasks.registry import *  # noqa: F403
