"""SMS delivery reports (SMS gateway): volume per channel and kind, status, latency, error code."""

from __future__ import annotations

import numpy as np

from core.contracts import Event, SmsDelivery
from simulator.catalog import (
    FAILED_SHARE,
    SMS_ERRORS,
    SMS_KIND_SHARE,
    SMS_KINDS,
    SMS_LATENCY_MEDIAN_MS,
    SMS_LATENCY_SIGMA,
    SMS_STATUSES,
    SMS_SUCCESS,
    Role,
)
from simulator.effects import Effects
from simulator.profile import TrafficProfile
from simulator.source import IdSequence, Produced, objects, pick, stamps
from simulator.topology import Topology

DELIVERED, FAILED, EXPIRED = (SMS_STATUSES.index(s) for s in ("delivered", "failed", "expired"))


class SmsSource:
    """SMS delivery reports, keyed by channel."""

    role: Role = "sms"

    def __init__(
        self, topology: Topology, profile: TrafficProfile, rng: np.random.Generator, rate: float, ids: IdSequence
    ) -> None:
        self.topology = topology
        self.profile = profile
        self.rng = rng
        #: Mean SMS per second over an ordinary weekday.
        self.rate = rate
        self.ids = ids
        self._channels = objects(topology.channels)
        self._keys = objects([name.encode() for name in topology.channels])
        self._kinds = objects(SMS_KINDS)
        self._statuses = objects(SMS_STATUSES)
        self._regions = objects(topology.regions)
        self._success = np.array(SMS_SUCCESS)
        self._log_latency = np.log(SMS_LATENCY_MEDIAN_MS)
        failed_codes = SMS_ERRORS["failed"]
        self._failed_codes = objects([code for code, _ in failed_codes])
        self._failed_weights = [weight for _, weight in failed_codes]
        self._expired_code = SMS_ERRORS["expired"][0][0]

    def produce(self, t0: float, t1: float, effects: Effects) -> Produced:
        """Delivery reports in ``[t0, t1)``."""
        rng, topo = self.rng, self.topology
        per_kind = self.rate * np.array(SMS_KIND_SHARE) * self.profile.sms((t0 + t1) / 2) * (t1 - t0)
        counts = rng.poisson(topo.sms_share * per_kind[None, :]).ravel()
        n = int(counts.sum())
        if n == 0:
            return Produced([], [])
        order, ts = stamps(rng, t0, t1, n)
        flat = np.repeat(np.arange(len(counts)), counts)[order]
        channel, kind = np.divmod(flat, len(SMS_KINDS))
        region = pick(rng, topo.region_share, n)
        success = np.clip(self._success[kind] * effects.sms_success_mult[channel], 0.0, 1.0)
        u = rng.random(n)
        status = np.where(u < success, DELIVERED, np.where(u < success + (1 - success) * FAILED_SHARE, FAILED, EXPIRED))
        latency = rng.lognormal(self._log_latency[kind], SMS_LATENCY_SIGMA) * effects.sms_latency_mult[channel]
        latency_ms: list[int | None] = np.rint(latency).astype(np.int64).tolist()
        errors: list[str | None] = [None] * n
        failed = np.flatnonzero(status == FAILED)
        codes = self._failed_codes[pick(rng, self._failed_weights, len(failed))].tolist()
        for i, code in zip(failed.tolist(), codes, strict=True):
            errors[i] = code
        for i in np.flatnonzero(status != DELIVERED).tolist():
            latency_ms[i] = None
            errors[i] = errors[i] or self._expired_code
        events: list[Event] = [
            SmsDelivery(
                ts=at,
                region=reg,
                msg_id=msg_id,
                channel=chan,
                kind=knd,
                status=stat,
                latency_ms=lat,
                error_code=err,
            )
            for at, reg, msg_id, chan, knd, stat, lat, err in zip(
                ts,
                self._regions[region].tolist(),
                self.ids.take(n),
                self._channels[channel].tolist(),
                self._kinds[kind].tolist(),
                self._statuses[status].tolist(),
                latency_ms,
                errors,
                strict=True,
            )
        ]
        return Produced(events, self._keys[channel].tolist())
