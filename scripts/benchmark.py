#!/usr/bin/env python3
"""`make benchmark ARGS="--only ledger --json out.json"`: migrate the throwaway database that
with_services.py started, then run `manage.py benchmark`."""

import os
import subprocess
import sys

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "governance.settings.base")
os.environ.setdefault("SECRET_KEY", "benchmark-only-secret")
manage = [sys.executable, "manage.py"]
subprocess.run([*manage, "migrate", "--verbosity", "0"], check=True)
sys.exit(subprocess.run([*manage, "benchmark", *sys.argv[1:]]).returncode)
