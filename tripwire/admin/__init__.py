from tripwire.admin import (
    drift,  # noqa: F401
    regression,  # noqa: F401
)
