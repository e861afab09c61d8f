"""Reads shared by tripwire services, the API, the admin and the benchmarks."""

from __future__ import annotations

import datetime as dt

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
