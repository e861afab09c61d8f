#!/usr/bin/env python3
"""`make benchmark ARGS="--only ledger --json out.json"`: migrate the throwaway database that
with_services.py started, then run `manage.py benchmark`."""

import os
import subprocess
import sys
import tempfile

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "governance.settings.base")
os.environ.setdefault("SECRET_KEY", "benchmark-only-secret")
# The database is a throwaway one, so its anchors go to a throwaway file: anchors of an earlier
# database (same tenant ids, other hashes) would rightly be reported as contradicted.
os.environ.setdefault(
    "LEDGER_ANCHOR_FILE", os.path.join(tempfile.mkdtemp(prefix="govloop-bench-"), "anchors.jsonl")
)
manage = [sys.executable, "manage.py"]
subprocess.run([*manage, "migrate", "--verbosity", "0"], check=True)
sys.exit(subprocess.run([*manage, "benchmark", *sys.argv[1:]]).returncode)
