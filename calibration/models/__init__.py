from calibration.models.patterns import *  # noqa: F403
from calibration.models.pipeline import *  # noqa: F403
from calibration.models.registry import *  # noqa: F403
