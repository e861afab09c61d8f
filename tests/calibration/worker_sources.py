"""A sample source for the real-worker tests; the worker imports it with ``--include``.

The first call records its process id and hangs, so the test can kill the worker process
mid-training; later calls return the pairs at once."""

import os
import time
from pathlib import Path

from calibration.registry_sources import register_sample_source
from tests.factories.events import signal_pairs


def _hangs_once(*, tenant_id, filters):
    marker = Path(os.environ["GOVLOOP_TEST_HANG_MARKER"])
    if not marker.exists():
        marker.write_text(str(os.getpid()))
        time.sleep(600)
    return signal_pairs(800)


register_sample_source("test_hangs_once", _hangs_once)
