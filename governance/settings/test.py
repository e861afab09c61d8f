import os
import tempfile
from pathlib import Path

from governance.settings.keys import TEST_LEDGER_SIGNING_KEY, TEST_SECRET_KEY

os.environ.setdefault("SECRET_KEY", TEST_SECRET_KEY)

from governance.settings.base import *  # noqa: F403
from governance.settings.base import DATABASES

DEBUG = False
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
_tmp = Path(tempfile.mkdtemp(prefix="govloop-test-"))
LEDGER_ANCHOR_FILE = _tmp / "ledger-anchors.jsonl"
GOVLOOP_ARTIFACT_DIR = _tmp / "artifacts"
# WhiteNoise warns on every request when STATIC_ROOT is missing; tests never collect static.
STATIC_ROOT = _tmp / "static"
STATIC_ROOT.mkdir(exist_ok=True)
LEDGER_SIGNING_KEY = TEST_LEDGER_SIGNING_KEY
DATABASES["default"]["CONN_MAX_AGE"] = 0
DATABASES["default"].setdefault("TEST", {})
if DATABASES["default"]["ENGINE"].endswith("sqlite3"):
    # A file database (not :memory:) so that threads and processes share it.
    DATABASES["default"]["TEST"]["NAME"] = str(_tmp / "test.sqlite3")
STATIC_ROOT = _tmp / "static"
STATIC_ROOT.mkdir(exist_ok=True)
WHITENOISE_USE_FINDERS = True
