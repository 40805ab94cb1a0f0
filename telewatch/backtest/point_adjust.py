"""Point-adjusted scoring of flags and scores against labelled anomaly segments (see ``telewatch.backtest.labelled``).

A *segment* is a run of consecutive label-1 points. It is detected, all its
points true positives, when a point among its first ``delay`` points is
flagged; otherwise all its points are false negatives. Flagged points outside
segments are false positives.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Final

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float64]
BoolArray = npt.NDArray[np.bool_]
IntArray = npt.NDArray[np.int64]

#: Points of a segment within which a flag counts (the usual setting for the AIOps KPI data).
DEFAULT_DELAY: Final = 7
#: Unflagged points an episode may skip and still be one episode.
EPISODE_GAP: Final = 1


def segments(label: BoolArray) -> tuple[IntArray, IntArray]:
    """Starts and stops (exclusive) of the runs of label-1 points.

    >>> segments(np.array([0, 1, 1, 0, 1], dtype=bool))
    (array([1, 4]), array([3, 5]))
    """
    edges = np.diff(np.concatenate(([0], label.astype(np.int8), [0])))
    return np.flatnonzero(edges == 1), np.flatnonzero(edges == -1)


def episodes(flagged: BoolArray, gap: int = EPISODE_GAP) -> list[tuple[int, int]]:
    """Runs of flagged points as (start, stop) index pairs, runs at most ``gap`` unflagged points apart merged.

    >>> episodes(np.array([1, 0, 1, 0, 0, 1], dtype=bool))
    [(0, 3), (5, 6)]
    """
    at = np.flatnonzero(flagged)
    if not len(at):
        return []
    cuts = np.flatnonzero(np.diff(at) > gap + 1)
    starts = at[np.concatenate(([0], cuts + 1))]
    stops = at[np.concatenate((cuts, [len(at) - 1]))] + 1
    return [(int(a), int(b)) for a, b in zip(starts, stops, strict=True)]


def ratio(a: float, b: float) -> float | None:
    """a / b, or None when b is 0."""
    return a / b if b > 0 else None


@dataclass(frozen=True)
class Figures:
    """Point-adjusted counts and alert load of one series, or of several added up."""

    points: int
    labelled: int
    segments: int
    detected_segments: int
    tp: int
    fn: int
    #: Flagged points outside segments (= flagged label-0 points).
    fp: int
    flagged: int
    episodes: int
    days: float

    @property
    def precision(self) -> float | None:
        return ratio(self.tp, self.tp + self.fp)

    @property
    def recall(self) -> float | None:
        return ratio(self.tp, self.tp + self.fn)

    @property
    def f1(self) -> float | None:
        return ratio(2 * self.tp, 2 * self.tp + self.fp + self.fn)

    @property
    def unlabelled_flag_share(self) -> float | None:
        """Flagged label-0 points / label-0 points."""
        return ratio(self.fp, self.points - self.labelled)

    def __add__(self, other: Figures) -> Figures:
        return Figures(
            points=self.points + other.points,
            labelled=self.labelled + other.labelled,
            segments=self.segments + other.segments,
            detected_segments=self.detected_segments + other.detected_segments,
            tp=self.tp + other.tp,
            fn=self.fn + other.fn,
            fp=self.fp + other.fp,
            flagged=self.flagged + other.flagged,
            episodes=self.episodes + other.episodes,
            days=self.days + other.days,
        )

    def to_json(self) -> dict[str, Any]:
        return {
            **self.__dict__,
            "unlabelled": self.points - self.labelled,
            "tn": self.points - self.labelled - self.fp,
            "precision": self.precision,
            "recall": self.recall,
            "f1": self.f1,
            "flagged_per_series_day": ratio(self.flagged, self.days),
            "episodes_per_series_day": ratio(self.episodes, self.days),
            "unlabelled_flag_share": self.unlabelled_flag_share,
        }


def point_adjusted(label: BoolArray, flagged: BoolArray, delay: int = DEFAULT_DELAY, days: float = 0.0) -> Figures:
    """The figures of one series' flags against its labels (see the module docstring)."""
    starts, stops = segments(label)
    hit = [bool(flagged[a : min(a + delay, b)].any()) for a, b in zip(starts, stops, strict=True)]
    lengths = stops - starts
    tp = int(lengths[hit].sum()) if len(hit) else 0
    return Figures(
        points=len(label),
        labelled=int(label.sum()),
        segments=len(starts),
        detected_segments=sum(hit),
        tp=tp,
        fn=int(label.sum()) - tp,
        fp=int((flagged & ~label).sum()),
        flagged=int(flagged.sum()),
        episodes=len(episodes(flagged)),
        days=days,
    )


@dataclass(frozen=True)
class BestThreshold:
    """The point-adjusted F1 of ``score >= threshold`` at the best threshold."""

    threshold: float
    f1: float
    precision: float
    recall: float
    tp: int
    fp: int
    fn: int


def best_threshold(series: Iterable[tuple[BoolArray, FloatArray]], delay: int = DEFAULT_DELAY) -> BestThreshold | None:
    """The best single threshold over (labels, scores) of several series pooled (None: no labelled point; ties:
    the highest threshold).

    Each segment is one candidate (its first ``delay`` points' maximum score, weighing its length in true
    positives), each label-0 point another (one false positive); one sort then gives every threshold's counts.
    """
    scores: list[FloatArray] = []
    tp_weight: list[FloatArray] = []
    for label, score in series:
        score = np.where(np.isfinite(score), score, -np.inf)
        starts, stops = segments(label)
        heads = [score[a : min(a + delay, b)].max() for a, b in zip(starts, stops, strict=True)]
        scores += [np.asarray(heads, dtype=np.float64), score[~label]]
        tp_weight += [(stops - starts).astype(np.float64), np.zeros(int((~label).sum()))]
    if not scores:
        return None
    score = np.concatenate(scores)
    weight = np.concatenate(tp_weight)
    positives = float(weight.sum())
    if positives == 0:
        return None
    order = np.argsort(-score, kind="stable")
    score, weight = score[order], weight[order]
    tp = np.cumsum(weight)
    fp = np.cumsum(weight == 0)
    last = np.flatnonzero(np.append(score[1:] != score[:-1], True))  # the last of each run of equal scores
    last = last[np.isfinite(score[last])]
    if not len(last):
        return None
    f1 = 2 * tp[last] / (tp[last] + fp[last] + positives)
    best = int(last[int(np.argmax(f1))])
    hits, false = int(tp[best]), int(fp[best])
    return BestThreshold(
        threshold=float(score[best]),
        f1=float(2 * hits / (hits + false + positives)),
        precision=hits / (hits + false) if hits + false else 0.0,
        recall=hits / positives,
        tp=hits,
        fp=false,
        fn=int(positives) - hits,
    )
