"""Reads shared by tripwire services, the API, the admin and the benchmarks."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from django.db import connection

from tripwire.models import KPIEvent, MetricKind

_TABLE = KPIEvent._meta.db_table


def kpi_window_sql(*, kind: str, with_since: bool) -> str:
    """The window query: the newest ``limit`` events of one (tenant, domain, metric), newest
    first. PostgreSQL answers it with a backward scan of ``kpi_window_idx`` that stops after
    ``limit`` rows, so its cost does not grow with the table."""
    column = "success" if kind == MetricKind.SUCCESS else "value"
    since = "AND created_at >= %s " if with_since else ""
    return (
        f'SELECT id, "{column}" FROM "{_TABLE}" '
        "WHERE tenant_id = %s AND domain = %s AND metric = %s AND created_at <= %s "
        f'{since}AND "{column}" IS NOT NULL '
        "ORDER BY created_at DESC, id DESC LIMIT %s"
    )


@dataclass(frozen=True)
class WindowStats:
    """Count, sum and sum of squares of the current window and of the baseline before it;
    enough for the rates, the two-proportion test and Welch's t-test."""

    newest_id: int | None
    n_current: int
    sum_current: float
    sumsq_current: float
    n_baseline: int
    sum_baseline: float
    sumsq_baseline: float


def kpi_window_stats_sql(*, kind: str, with_since: bool) -> str:
    """The window query wrapped in one aggregate: the rows never leave the database."""
    x = "CASE WHEN x THEN 1.0 ELSE 0.0 END" if kind == MetricKind.SUCCESS else "x"
    inner = (
        kpi_window_sql(kind=kind, with_since=with_since)
        .replace('SELECT id, "success"', 'SELECT id, created_at, "success" AS x')
        .replace('SELECT id, "value"', 'SELECT id, created_at, "value" AS x')
    )
    return (
        "SELECT MAX(CASE WHEN rn = 1 THEN id END), "
        "SUM(CASE WHEN rn <= %s THEN 1 ELSE 0 END), "
        "SUM(CASE WHEN rn <= %s THEN v ELSE 0 END), "
        "SUM(CASE WHEN rn <= %s THEN v * v ELSE 0 END), "
        "SUM(CASE WHEN rn > %s THEN 1 ELSE 0 END), "
        "SUM(CASE WHEN rn > %s THEN v ELSE 0 END), "
        "SUM(CASE WHEN rn > %s THEN v * v ELSE 0 END) "
        f"FROM (SELECT id, {x} AS v, ROW_NUMBER() OVER (ORDER BY created_at DESC, id DESC) AS rn "
        f"FROM ({inner}) AS newest) AS ranked"
    )


STATE_COLUMNS = (
    "id",
    "status",
    "triggered",
    "breach_streak",
    "fired_tier",
    "last_event_id",
    "action_taken",
    "triggered_at",
    "throttled",
    "acknowledged_by_id",
    "acknowledged_at",
)


def kpi_window_stats(
    *,
    tenant_id: int,
    domain: str,
    metric: str,
    kind: str,
    window: int,
    baseline: int,
    until: dt.datetime,
    since: dt.datetime | None = None,
    state_of_policy: int | None = None,
) -> tuple[WindowStats, dict | None]:
    """The window's statistics and, with ``state_of_policy``, that policy's state columns
    read in the same statement (one round trip for the whole read side of an evaluation)."""
    sql = kpi_window_stats_sql(kind=kind, with_since=since is not None)
    params: list = [window] * 6 + [tenant_id, domain, metric, until]
    if since is not None:
        params.append(since)
    params.append(window + baseline)
    if state_of_policy is not None:
        from tripwire.models import RegressionState

        table = RegressionState._meta.db_table
        extra = ", ".join(
            f'(SELECT "{c}" FROM "{table}" WHERE policy_id = %s)' for c in STATE_COLUMNS
        )
        sql = sql.replace(" FROM (SELECT id, ", f", {extra} FROM (SELECT id, ", 1)
        params = [window] * 6 + [state_of_policy] * len(STATE_COLUMNS) + params[6:]
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        row = cursor.fetchone()
    newest, n1, s1, q1, n2, s2, q2 = row[:7]
    state = None
    if state_of_policy is not None and row[7] is not None:
        state = dict(zip(STATE_COLUMNS, row[7:], strict=True))
    return WindowStats(
        newest_id=newest,
        n_current=int(n1 or 0),
        sum_current=float(s1 or 0),
        sumsq_current=float(q1 or 0),
        n_baseline=int(n2 or 0),
        sum_baseline=float(s2 or 0),
        sumsq_baseline=float(q2 or 0),
    ), state


def kpi_window(
    *,
    tenant_id: int,
    domain: str,
    metric: str,
    kind: str,
    limit: int,
    until: dt.datetime,
    since: dt.datetime | None = None,
) -> tuple[int | None, list[float]]:
    """(id of the newest event, values newest first) of the most recent ``limit`` events."""
    params: list = [tenant_id, domain, metric, until]
    if since is not None:
        params.append(since)
    params.append(limit)
    with connection.cursor() as cursor:
        cursor.execute(kpi_window_sql(kind=kind, with_since=since is not None), params)
        rows = cursor.fetchall()
    if not rows:
        return None, []
    return rows[0][0], [float(value) for _, value in rows]


def kpi_window_values(
    *,
    tenant_id: int,
    domain: str,
    metric: str,
    kind: str,
    window: int,
    baseline: int,
    until: dt.datetime,
    since: dt.datetime | None = None,
    newest_id: int | None = None,
) -> tuple[list[float], list[float]]:
    """(current, baseline) values of the window for a rank test: one statement bounded by
    ``window + baseline`` rows (the same backward index scan as the window's statistics).
    With ``newest_id`` (the newest event the statistics saw), events written after that read
    are left out, so both reads describe the same window."""
    params: list = [tenant_id, domain, metric, until]
    if since is not None:
        params.append(since)
    sql = kpi_window_sql(kind=kind, with_since=since is not None)
    if newest_id is not None:
        sql = sql.replace("AND created_at <= %s ", "AND created_at <= %s AND id <= %s ", 1)
        params.insert(4, newest_id)
    params.append(window + baseline)
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        values = [float(value) for _, value in cursor.fetchall()]
    return values[:window], values[window:]
