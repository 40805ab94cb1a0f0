"""The ``streams:`` section of the config: windows, lateness, de-duplication and the metrics to compute."""

from __future__ import annotations

from pydantic import Field, field_validator

from core.metrics import MetricDefinition, default_metrics
from core.settings import Section


class StreamsSettings(Section):
    """The streams stage: windows, lateness, de-duplication and the metrics it computes."""

    window_s: int = Field(default=60, ge=1, le=86400, description="Tumbling window size in seconds")
    allowed_lateness_s: int = Field(
        default=120,
        ge=0,
        le=86400,
        description="Events up to this late still update their window; later ones are dead-lettered as `late`",
    )
    dedup_horizon_s: int = Field(
        default=600, ge=0, le=86400, description="Events with an id already seen this recently are counted once"
    )
    idle_timeout_s: int = Field(
        default=30, ge=1, le=86400,
        description="An input partition without events this long (wall time) closes its windows by the wall clock",
    )  # fmt: skip
    quiet_series_s: int = Field(
        default=3600, ge=0, le=7 * 86400,
        description="A count series seen this recently gets a 0 point for a window with no events (silence is data)",
    )  # fmt: skip
    metrics: list[MetricDefinition] = Field(
        default_factory=default_metrics, min_length=1, description="The metrics to compute (default: DOMAIN.md's set)"
    )

    @field_validator("metrics")
    @classmethod
    def _unique(cls, value: list[MetricDefinition]) -> list[MetricDefinition]:
        names = [m.name for m in value]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise ValueError(f"metric names must be unique; defined more than once: {', '.join(dupes)}")
        return value

    def for_source(self, source: str) -> list[MetricDefinition]:
        """The metrics computed from one input topic role."""
        return [m for m in self.metrics if m.source == source]
