"""Every `manage.py` command starts fast: loading Django, the admin and the URLconf imports
none of the heavy numeric libraries; they are imported where a calibrator is fitted or a
significance test runs."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
HEAVY = ("sklearn", "scipy")
PROBE = """
import sys
import django
from django.urls import get_resolver

django.setup()  # runs the admin's autodiscover, as every manage.py command does
get_resolver().url_patterns  # the system checks of most commands import every view
from django.core.management import get_commands, load_command_class
for name, app in sorted(get_commands().items()):
    if app in ("governance", "calibration", "learning", "tripwire"):
        load_command_class(app, name)  # our commands' modules, as `manage.py NAME` loads one
print(",".join(sorted({name.split(".")[0] for name in sys.modules} & set(sys.argv[1:]))))
"""


@pytest.mark.slow
def test_loading_django_the_admin_urls_and_every_command_imports_no_heavy_library(tmp_path):
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL")}
    env.update(DJANGO_SETTINGS_MODULE="governance.settings.base", DEBUG="1")
    env["GOVLOOP_VAR_DIR"] = str(tmp_path)

    result = subprocess.run(
        [sys.executable, "-c", PROBE, *HEAVY],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
    )

    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "", f"imported at start-up: {result.stdout.strip()}"


def test_fitting_a_calibrator_still_works_with_its_library_imported_on_use():
    import numpy as np

    from calibration.calibrators import ISOTONIC, PLATT, apply, cross_validate, fit

    confidences = np.linspace(0.05, 0.95, 40)
    labels = (np.arange(40) % 3 == 0).astype(int)
    for method in (PLATT, ISOTONIC):
        parameters = fit(method, confidences, labels)
        assert apply(method, parameters, confidences).shape == (40,)
        assert set(cross_validate(method, confidences, labels, folds=3)) >= {"ece", "folds"}
