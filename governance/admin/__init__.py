from governance.admin import (
    changes,  # noqa: F401
    core,  # noqa: F401
    levers,  # noqa: F401
    settings,  # noqa: F401
)
