"""Logging filters named in ``settings.LOGGING``."""

from __future__ import annotations

import logging


class ClientErrorWithoutTraceback(logging.Filter):
    """A refused request (4xx) is the client's problem, not a bug: keep Django's one-line
    warning ("Forbidden (Permission denied): /path") and drop the traceback it attaches, so a
    reviewer opening a page they may not see does not fill the log with stack traces."""

    def filter(self, record: logging.LogRecord) -> bool:
        status = getattr(record, "status_code", None)
        if status is not None and 400 <= status < 500:
            record.exc_info = None
            record.exc_text = None
        return True
