"""Plug points of the calibrator registry, filled in by higher apps at ready time.

``calibration`` trains calibrators from (confidence, outcome) pairs, but the events that hold
those pairs live in ``learning``, which sits above ``calibration`` (a lower app never imports
a higher one). So the registry names what it needs and the owner of the data provides it:

- a **sample source** is ``fn(*, tenant_id, filters) -> (confidences, labels)``: two aligned
  numpy arrays (float64 in [0, 1], and 0/1 labels), loaded without per-row Python objects.
  ``learning`` registers ``"signal_accuracy"`` in its ``AppConfig.ready``.
- a **counter** is ``fn(*, tenant_id) -> int``, read by the registry's stats (``tripwire``
  registers ``"drift_alerts"``).

A training job stores the name of its sample source, so a job always says where its data
came from, and the registry stays testable with any source a test registers."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol

import numpy as np


class SampleSource(Protocol):
    def __call__(
        self, *, tenant_id: int, filters: dict[str, Any]
    ) -> tuple[np.ndarray, np.ndarray]: ...


_SAMPLE_SOURCES: dict[str, SampleSource] = {}
_COUNTERS: dict[str, Callable[..., int]] = {}


def register_sample_source(name: str, fn: SampleSource) -> None:
    _SAMPLE_SOURCES[name] = fn


def sample_source(name: str) -> SampleSource | None:
    return _SAMPLE_SOURCES.get(name)


def sample_source_names() -> list[str]:
    return sorted(_SAMPLE_SOURCES)


def register_counter(name: str, fn: Callable[..., int]) -> None:
    _COUNTERS[name] = fn


def counters() -> dict[str, Callable[..., int]]:
    return dict(_COUNTERS)
