"""The client package stands alone, and its scorer is the server's."""

import subprocess
import sys

import govloop_client.scoring
from calibration import scoring


def test_the_server_scores_with_the_client_packages_scorer():
    assert scoring.score is govloop_client.scoring.score
    assert scoring.ScoreResult is govloop_client.scoring.ScoreResult


def test_the_client_imports_neither_django_nor_numpy():
    probe = (
        "import sys, govloop_client; "
        "print(sorted(m for m in ('django', 'numpy', 'rest_framework') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)

    assert out.stdout.strip() == "[]"
