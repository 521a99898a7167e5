"""The zoom bands: how simplified a map's geometry is at each zoom.

Shared by the import, which makes each band's geometry, and by lookups, which
pick a band for a map's zoom; neither depends on the other for it.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class ZoomBand:
    """Geometry for maps at zooms up to ``max_zoom``, simplified to ``tolerance_deg``."""

    band: int
    max_zoom: int
    tolerance_deg: float


# Finest first: each band is simplified from the one before (cheap, and a valid
# coverage stays a valid coverage). About half a pixel at the band's top zoom.
ZOOM_BANDS = (
    ZoomBand(band=2, max_zoom=10, tolerance_deg=0.002),
    ZoomBand(band=1, max_zoom=7, tolerance_deg=0.01),
    ZoomBand(band=0, max_zoom=4, tolerance_deg=0.05),
)
# Above the last band's zoom a tile covers a small area: it is cut from the
# full-resolution geometry, clipped to the tile, instead of a stored band.
FULL_RESOLUTION_BAND = 3


def band_for_zoom(zoom: int) -> int:
    """Return the band a map at ``zoom`` uses (``FULL_RESOLUTION_BAND`` past the last)."""
    return min((b.band for b in ZOOM_BANDS if zoom <= b.max_zoom), default=FULL_RESOLUTION_BAND)
