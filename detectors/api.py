"""The public Python API: the configured detector of one series, fed one point at a time.

>>> from detectors.api import build_detector
>>> detector = build_detector("sms_delivery_success_rate|channel=106900001")
>>> detector.spec.direction, detector.kind
('down', 'ratio')
>>> verdict = detector.feed(1_790_000_000.0, 0.97, volume=2400)
>>> verdict.flagged, verdict.reason  # the first point: nothing known yet
(False, 'learning')

The backtest (``telewatch backtest``) and the detectors worker both build
their detectors here, so a verdict in a backtest is the verdict live.
"""

from __future__ import annotations

from collections.abc import Sequence

from core.metrics import MetricDefinition, default_metrics
from core.series import parse_series_key
from detectors.series_detector import SeriesDetector, ValueKind, Verdict
from detectors.settings import DetectorSettings

__all__ = ["SeriesDetector", "Verdict", "build_detector", "value_kind"]


def value_kind(metrics: Sequence[MetricDefinition], metric: str) -> ValueKind:
    """How a metric's value relates to its volume: ``ratio``, ``count`` or ``value`` (also for unknown metrics)."""
    for definition in metrics:
        if definition.name == metric:
            if definition.kind == "ratio":
                return "ratio"
            if definition.kind == "count":
                return "count"
            return "value"
    return "value"


def build_detector(
    series: str, settings: DetectorSettings | None = None, metrics: Sequence[MetricDefinition] | None = None
) -> SeriesDetector:
    """The detector ``settings`` give series ``series`` (a series key; a plain name is a metric of its own).

    Defaults: the shipped detector settings and metric definitions.
    """
    chosen = settings if settings is not None else DetectorSettings()
    metric, _ = parse_series_key(series)
    kind = value_kind(metrics if metrics is not None else default_metrics(), metric)
    return SeriesDetector(chosen.spec_for(metric, series), kind)
