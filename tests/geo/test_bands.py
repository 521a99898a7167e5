from __future__ import annotations

from geo.bands import FULL_RESOLUTION_BAND, ZOOM_BANDS, band_for_zoom


def test_band_for_zoom() -> None:
    """Zooms map to bands: coarse for a whole country, finer as the map zooms in."""
    assert [band_for_zoom(z) for z in (0, 4, 5, 7, 8, 10, 11, 18)] == [0, 0, 1, 1, 2, 2, 3, 3]


def test_bands_go_finest_first() -> None:
    """Each band is simplified from the one before it, so tolerances grow down the list."""
    tolerances = [band.tolerance_deg for band in ZOOM_BANDS]
    assert tolerances == sorted(tolerances)
    assert max(band.band for band in ZOOM_BANDS) < FULL_RESOLUTION_BAND
