from governance.admin import (
    core,  # noqa: F401
    levers,  # noqa: F401
    settings,  # noqa: F401
)
