"""The simulated network: regions, cells with lognormal volume weights, SMS channels."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from simulator.catalog import OFF_KIND_WEIGHT, SMS_KIND_SHARE, SMS_KINDS
from simulator.settings import TopologySettings

#: Spread of cell volumes (sigma of the lognormal): a few busy cells, many quiet ones.
CELL_SIGMA = 0.8
#: Spread of region sizes.
REGION_SIGMA = 0.35


@dataclass(frozen=True, eq=False)
class Topology:
    """Who is where, and how much traffic each part carries."""

    regions: tuple[str, ...]
    cell_ids: tuple[str, ...]
    #: Region index of each cell.
    cell_region: NDArray[np.intp]
    #: Share of the network's call volume per cell (sums to 1).
    cell_share: NDArray[np.float64]
    #: Share of the network's volume per region (sums to 1).
    region_share: NDArray[np.float64]
    channels: tuple[str, ...]
    #: Main kind (index into ``SMS_KINDS``) of each channel.
    channel_kind: NDArray[np.intp]
    #: ``[channel, kind]``: the channel's share of that kind's SMS volume (each column sums to 1).
    sms_share: NDArray[np.float64]

    @classmethod
    def build(cls, settings: TopologySettings, rng: np.random.Generator) -> Topology:
        """Lay out the network; volume weights are drawn from ``rng``."""
        regions = tuple(settings.regions)
        cells = [cell for region in regions for cell in settings.cell_ids(region)]
        cell_region = np.repeat(np.arange(len(regions)), settings.cells_per_region)
        region_size = rng.lognormal(0.0, REGION_SIGMA, len(regions))
        weight = rng.lognormal(0.0, CELL_SIGMA, len(cells))
        weight = weight / np.bincount(cell_region, weights=weight)[cell_region] * region_size[cell_region]
        cell_share = weight / weight.sum()
        region_share = np.bincount(cell_region, weights=cell_share, minlength=len(regions)).astype(np.float64)
        channel_kind = np.array([SMS_KINDS.index(c.main_kind) for c in settings.sms_channels], dtype=np.intp)
        channel_weight = np.array([c.weight for c in settings.sms_channels])
        main = channel_kind[:, None] == np.arange(len(SMS_KINDS))[None, :]
        share = channel_weight[:, None] * np.where(main, 1.0, OFF_KIND_WEIGHT)
        return cls(
            regions=regions,
            cell_ids=tuple(cells),
            cell_region=cell_region,
            cell_share=cell_share,
            region_share=region_share,
            channels=tuple(c.name for c in settings.sms_channels),
            channel_kind=channel_kind,
            sms_share=share / share.sum(axis=0, keepdims=True),
        )

    def cells_of(self, region: int) -> NDArray[np.intp]:
        """Indexes of a region's cells."""
        return np.flatnonzero(self.cell_region == region)

    def share_in_region(self, cell: int) -> float:
        """The cell's share of its region's call volume."""
        return float(self.cell_share[cell] / self.region_share[self.cell_region[cell]])

    def channel_kind_mix(self, channel: int) -> NDArray[np.float64]:
        """Share of each kind in a channel's own traffic on an ordinary day."""
        volume = self.sms_share[channel] * np.array(SMS_KIND_SHARE)
        return np.asarray(volume / volume.sum(), dtype=np.float64)
