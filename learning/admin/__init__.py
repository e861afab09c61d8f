from learning.admin import (
    events,  # noqa: F401
    loop,  # noqa: F401
    proofs,  # noqa: F401
)
