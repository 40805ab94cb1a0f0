"""The daily (or weekly) profile that the seasonal and auto baselines share: an offset per slot of the period.

A slot's offset is an exponentially weighted mean of ``value - level`` over
the slot's points. ``profile_alpha`` is the weight of one *visit* (a day's
run of points in the slot), shared by the visit's points, and a slot seen a
few times is trusted in proportion (``completed / (completed + 1)``); the
offsets are centred on their mean, so the level keeps the series' mean.
"""

from __future__ import annotations

from array import array


def check_season(period_s: int, slot_s: int) -> None:
    """``ValueError`` unless ``period_s`` is a positive multiple of ``slot_s``."""
    if period_s <= 0 or slot_s <= 0 or period_s % slot_s:
        raise ValueError(f"period_s ({period_s}) must be a positive multiple of slot_s ({slot_s})")


def check_fractions(**fractions: float) -> None:
    """``ValueError`` naming the first parameter outside (0, 1]."""
    for name, fraction in fractions.items():
        if not 0 < fraction <= 1:
            raise ValueError(f"{name} must be in (0, 1], not {fraction}")


class DailyProfile:
    """Offsets per slot of the period, with their visit counts (a mixin of the baselines that have a profile)."""

    __slots__ = ("_last_slot", "_profile", "_profile_sum", "_seen", "_slots_seen", "_visits", "period_s", "slot_s")

    def _init_profile(self, period_s: int, slot_s: int, single: bool) -> None:
        """An empty profile; ``single``: offsets in float32 (half the memory; ample for an offset)."""
        check_season(period_s, slot_s)
        self.period_s = period_s
        self.slot_s = slot_s
        slots = period_s // slot_s
        self._profile = array("f", bytes(4 * slots)) if single else array("d", bytes(8 * slots))
        #: Points learned in each slot (capped at 65535).
        self._seen = array("H", bytes(2 * slots))
        #: Visits of each slot (a day's run of points in it), and the slot of the last point.
        self._visits = array("H", bytes(2 * slots))
        self._last_slot = -1
        #: Sum of the profile over the slots seen, and how many: offsets are centred on their mean.
        self._profile_sum = 0.0
        self._slots_seen = 0

    def _slot(self, ts: float) -> int:
        return int(ts % self.period_s) // self.slot_s

    def _completed_visits(self, slot: int) -> int:
        """Visits of the slot before the current one: the current visit must not explain itself."""
        visits = self._visits[slot]
        return visits - 1 if slot == self._last_slot and visits else visits

    def _offset(self, slot: int) -> float:
        """The slot's centred offset, trusted as the slot has been visited."""
        completed = self._completed_visits(slot)
        if not completed or not self._slots_seen:
            return 0.0
        centred = self._profile[slot] - self._profile_sum / self._slots_seen
        return centred * completed / (completed + 1.0)

    def _visit(self, slot: int) -> None:
        """Count a new visit when the point is in another slot than the last one."""
        if slot != self._last_slot:
            self._last_slot = slot
            if self._visits[slot] < 65535:
                self._visits[slot] += 1

    def _slot_weight(self, slot: int, seen: int, alpha: float) -> float:
        """A point's weight in its slot: ``alpha`` per visit shared by the visit's points, at least ``1/(seen+1)``."""
        visits = self._visits[slot]
        per_visit = seen / (visits - 1 if visits > 2 else 1) if visits > 1 else (seen or 1)
        weight = alpha / per_visit
        return weight if weight * (seen + 1) >= 1.0 else 1.0 / (seen + 1)

    def _learn_offset(self, slot: int, seen: int, weight: float, target: float) -> None:
        """Move the slot's offset towards ``target`` by ``weight``; count the point."""
        if not seen:
            self._slots_seen += 1
        old = self._profile[slot]
        self._profile[slot] = old + weight * (target - old)
        self._profile_sum += self._profile[slot] - old  # what the array stored, so the sum stays the slots' sum
        if seen < 65535:
            self._seen[slot] = seen + 1
