"""Output shaping only: places and matches to JSON-ready dicts."""

from __future__ import annotations

from typing import Any

from geo.lookup.hierarchy import Hierarchy, Place
from geo.lookup.matching import Match


def place_to_dict(place: Place, hierarchy: Hierarchy) -> dict[str, Any]:
    """Return the fields every lookup result carries."""
    parent = hierarchy.parent_of(place)
    return {
        "osm_id": place.osm_id,
        "name": place.name,
        "name_en": place.name_en,
        "level": place.level,
        "path": place.path,
        "parent_osm_id": parent.osm_id if parent else None,
    }


def match_to_dict(match: Match, hierarchy: Hierarchy) -> dict[str, Any]:
    """Return a place plus how it matched."""
    return {
        **place_to_dict(match.place, hierarchy),
        "match": {
            "method": str(match.method),
            "field": match.kind,
            "text": match.matched,
            "score": match.score,
        },
    }
