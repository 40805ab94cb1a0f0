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

from detectors.series_detector import SeriesDetector, ValueKind, Verdict
from streams.metric_config import StreamsSettings
from streams.series import parse_series_key
from telewatch.config import Config

__all__ = ["SeriesDetector", "Verdict", "build_detector", "value_kind"]


def value_kind(streams: StreamsSettings, metric: str) -> ValueKind:
    """How a metric's value relates to its volume: ``ratio``, ``count`` or ``value``."""
    for definition in streams.metrics:
        if definition.name == metric:
            if definition.kind == "ratio":
                return "ratio"
            if definition.kind == "count":
                return "count"
            return "value"
    return "value"


def build_detector(series: str, config: Config | None = None) -> SeriesDetector:
    """The detector ``config`` (default: the shipped defaults) gives series ``series`` (a series key)."""
    cfg = config if config is not None else Config()
    metric, _ = parse_series_key(series)
    return SeriesDetector(cfg.detectors.spec_for(metric, series), value_kind(cfg.streams, metric))
