from calibration.admin import (
    patterns,  # noqa: F401
    pipeline,  # noqa: F401
    registry,  # noqa: F401
)
