"""Learning-event and calibration data for tests: synthetic trades with known calibration."""

from __future__ import annotations

import datetime as dt
from typing import Any

import numpy as np

from learning.services.events import events_record

T0 = dt.datetime(2024, 1, 2, 14, 30, tzinfo=dt.UTC)
SOURCE = "phase1_real_market_backtest"


def signal_pairs(
    n: int, *, seed: int = 0, overconfident: bool = False
) -> tuple[np.ndarray, np.ndarray]:
    """(confidence, win) pairs. Over-confident signals win far less often than they claim:
    the true win probability is 0.5 + 0.4 * (confidence - 0.5)."""
    rng = np.random.default_rng(seed)
    confidences = rng.uniform(0.15, 0.95, n)
    truth = 0.5 + 0.4 * (confidences - 0.5) if overconfident else confidences
    wins = (rng.uniform(size=n) < truth).astype(np.int8)
    return confidences, wins


def trades(n: int, *, seed: int = 0, overconfident: bool = True) -> list[dict[str, Any]]:
    """The seed's trade dicts: symbol, confidence, win, return_pct, entry and exit times."""
    confidences, wins = signal_pairs(n, seed=seed, overconfident=overconfident)
    rng = np.random.default_rng(seed + 1)
    magnitudes = rng.uniform(0.2, 4.0, n)
    symbols = ["AAPL", "MSFT", "NVDA", "SPY"]
    out = []
    for i in range(n):
        entry = T0 + dt.timedelta(hours=i)
        out.append(
            {
                "symbol": symbols[i % len(symbols)],
                "confidence": round(float(confidences[i]), 6),
                "win": bool(wins[i]),
                "return_pct": round(float(magnitudes[i] if wins[i] else -magnitudes[i]), 6),
                "entry_ts": entry,
                "exit_ts": entry + dt.timedelta(days=3),
            }
        )
    return out


def trade_events(
    rows: list[dict[str, Any]], *, threshold: float = 0.8, source: str = SOURCE
) -> list[dict[str, Any]]:
    """SIGNAL_GENERATED and SIGNAL_ACCURACY events of each trade, as the seed records them."""
    events = []
    for i, trade in enumerate(rows):
        events.append(
            {
                "event_type": "SIGNAL_GENERATED",
                "source_engine": source,
                "symbol": trade["symbol"],
                "timestamp": trade["entry_ts"].isoformat(),
                "payload": {
                    "confidence": trade["confidence"],
                    "holding_days": 3,
                    "applied_threshold": threshold,
                    "calibrated": False,
                },
                "event_id": f"gen-{i}",
            }
        )
        events.append(
            {
                "event_type": "SIGNAL_ACCURACY",
                "source_engine": source,
                "symbol": trade["symbol"],
                "timestamp": trade["exit_ts"].isoformat(),
                "payload": {
                    "return_pct": trade["return_pct"],
                    "win": trade["win"],
                    "confidence_used": trade["confidence"],
                    "applied_threshold": threshold,
                    "calibrated": False,
                },
                "outcome": trade["return_pct"],
                "event_id": f"acc-{i}",
            }
        )
    return events


def record_trades(tenant, rows: list[dict[str, Any]], **kwargs) -> int:
    events = trade_events(rows, **kwargs)
    stored = 0
    for start in range(0, len(events), 10_000):
        stored += events_record(tenant=tenant, items=events[start : start + 10_000]).stored
    return stored
