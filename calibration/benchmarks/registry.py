"""`calibrator_train`: a Platt-scaling training job end to end on 1,000,000 (confidence,
outcome) pairs (submit, claim, load through the registered sample source, 5-fold cross
validation, final fit, version registration, ledger) against the direct pipeline written by
hand: a binary COPY of the same two columns into numpy and the same scikit-learn fits (5
fold fits plus the final fit) with no registry around them."""

from __future__ import annotations

import time
import uuid

import numpy as np
from django.db import connection
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import StratifiedKFold

from calibration import calibrators
from calibration.models import TrainingJobState
from calibration.services.registry import training_job_run, training_job_submit
from governance.benchmarking import Figure, benchmark, require_postgres
from governance.models import Tenant
from governance.services.ledger import Actor

SEED_SQL = """
INSERT INTO learning_learningevent (tenant_id, event_type, source_engine, subject, "timestamp",
    payload, outcome, confidence, win, event_id, recorded_at)
SELECT %(tenant)s, 'signal_accuracy', 'bench', 'SPY', now() - n * interval '1 second',
    '{}'::jsonb, NULL, c, random() < 0.5 + 0.4 * (c - 0.5), NULL, now()
FROM (SELECT n, 0.15 + 0.8 * random() AS c FROM generate_series(1, %(n)s) AS n) AS pairs
"""
COPY_SQL = """
COPY (SELECT confidence, win FROM learning_learningevent
      WHERE tenant_id = %s AND event_type = 'signal_accuracy'
        AND confidence IS NOT NULL AND win IS NOT NULL) TO STDOUT (FORMAT BINARY)
"""


def _direct(tenant_id: int, folds: int) -> tuple[float, dict[str, float]]:
    start = time.perf_counter()
    with connection.cursor() as wrapper, wrapper.cursor.copy(COPY_SQL, [tenant_id]) as copy:
        raw = b"".join(bytes(block) for block in copy)
    layout = np.dtype([("n", ">i2"), ("l1", ">i4"), ("c", ">f8"), ("l2", ">i4"), ("w", "u1")])
    rows = np.frombuffer(memoryview(raw)[19:-2], dtype=layout)
    confidences = rows["c"].astype(np.float64)
    labels = rows["w"].astype(np.int8)
    load = time.perf_counter() - start
    x = np.log(np.clip(confidences, 1e-6, 1 - 1e-6) / (1 - np.clip(confidences, 1e-6, 1 - 1e-6)))
    x = x.reshape(-1, 1)
    splitter = StratifiedKFold(n_splits=folds, shuffle=True, random_state=0)
    for train, test in splitter.split(x, labels):
        model = LogisticRegression(C=np.inf, solver="lbfgs", tol=1e-10, max_iter=1000)
        model.fit(x[train], labels[train])
        model.predict_proba(x[test])
    LogisticRegression(C=np.inf, solver="lbfgs", tol=1e-10, max_iter=1000).fit(x, labels)
    return time.perf_counter() - start, {"load_seconds": load, "pairs": len(labels)}


@benchmark("calibrator_train")
def calibrator_train(*, scale: float = 1.0) -> list[Figure]:
    require_postgres()
    n = max(20_000, int(1_000_000 * scale))
    folds = 5
    tenant = Tenant.objects.create(slug=f"bench-train-{uuid.uuid4().hex[:8]}", name="train")
    with connection.cursor() as cursor:
        cursor.execute(SEED_SQL, {"tenant": tenant.pk, "n": n})
        cursor.execute("ANALYZE learning_learningevent")

    def ours() -> tuple[float, str]:
        start = time.perf_counter()
        job = training_job_submit(
            tenant=tenant,
            model_name="confidence_calibrator",
            method=calibrators.PLATT,
            cv_folds=folds,
            min_samples=1000,
            actor=Actor.system("bench"),
            dispatch=False,
        )
        job = training_job_run(job_id=job.pk, system="bench")
        seconds = time.perf_counter() - start
        if job is None or job.state != TrainingJobState.SUCCEEDED or job.samples != n:
            raise RuntimeError(f"training job did not succeed on {n} pairs: {job and job.log}")
        return seconds, job.log

    _direct(tenant.pk, folds)  # warm-up (page cache, imports)
    runs = [(ours(), _direct(tenant.pk, folds)) for _ in range(2)]
    ours_seconds = min(run[0][0] for run in runs)
    direct_seconds = min(run[1][0] for run in runs)
    return [
        Figure(
            name=f"calibrator_train s (Platt, {folds}-fold cv, {n:,} pairs, job end to end)",
            ours=ours_seconds,
            baseline=direct_seconds,
            unit="s",
            higher_is_better=False,
            baseline_label="binary COPY into numpy + the same scikit-learn fits, by hand",
            notes={
                "pairs": n,
                "direct_load_seconds": round(runs[0][1][1]["load_seconds"], 3),
                "job_log": runs[0][0][1].strip().splitlines(),
                "acceptance": "within 1.5x of the direct pipeline",
            },
        )
    ]
