"""The detector families by name, as the config names them (``detectors.*.family``)."""

from __future__ import annotations

import inspect
from collections.abc import Mapping
from typing import Any

from detectors.auto import AutoBaseline
from detectors.baseline import Baseline
from detectors.forecast import HoltWintersBaseline, SnarimaxBaseline
from detectors.half_space_trees import HalfSpaceTreesBaseline
from detectors.robust import RobustBaseline
from detectors.seasonal import SeasonalBaseline

FAMILIES: Mapping[str, type[Any]] = {
    "auto": AutoBaseline,
    "seasonal": SeasonalBaseline,
    "robust": RobustBaseline,
    "holt_winters": HoltWintersBaseline,
    "snarimax": SnarimaxBaseline,
    "half_space_trees": HalfSpaceTreesBaseline,
}


def build_baseline(family: str, params: Mapping[str, Any]) -> Baseline:
    """A new, untrained baseline of ``family`` with ``params``."""
    baseline: Baseline = FAMILIES[family](**params)
    return baseline


def parameters(family: str) -> dict[str, Any]:
    """The parameters of a family and their defaults."""
    signature = inspect.signature(FAMILIES[family].__init__)
    return {name: p.default for name, p in signature.parameters.items() if name != "self"}


def check_params(family: str, params: Mapping[str, Any]) -> None:
    """Raise ``ValueError`` naming the parameter when ``params`` do not fit ``family``."""
    known = parameters(family)
    unknown = sorted(set(params) - set(known))
    if unknown:
        raise ValueError(f"params: {family} has no parameter {unknown[0]!r}; it has: {', '.join(known)}")
    for name, value in params.items():
        default = known[name]
        number = isinstance(default, (int, float)) and not isinstance(default, bool)
        if number and (isinstance(value, bool) or not isinstance(value, (int, float))):
            raise ValueError(f"params.{name}: {family} expects a number, not {value!r}")
    try:
        build_baseline(family, params)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"params: {exc}") from None
