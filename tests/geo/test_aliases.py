"""Alias rules: no alias that would match nearly every message, no control characters."""

from __future__ import annotations

import pytest

from geo.aliases import STOP_WORDS, clean_aliases, set_aliases
from geo.exceptions import InvalidQuery
from geo.models import AuditAction, AuditEvent, Boundary, BoundaryAlias
from tests.geo.web.conftest import SampleSite

pytestmark = pytest.mark.django_db

COMMON = [
    ("a", "too short"),
    ("I", "too short"),
    ("5", "too short"),
    (" ¡A! ", "too short"),
    ("the", "English"),
    ("in", "English"),
    ("The", "English"),
    ("de", "French"),
    ("la", "French"),
    ("Là", "French"),
    ("de la", "French"),
    ("que", "Spanish"),
    ("em", "Portuguese"),
    ("na", "Swahili"),
    ("ya", "Swahili"),
    ("mu", "Kinyarwanda"),
    ("I live in", "English"),
]


@pytest.mark.parametrize(("alias", "reason"), COMMON)
def test_common_words_and_single_letters_are_refused(alias: str, reason: str) -> None:
    """A 400 naming the alias: single letters and everyday words of our users' languages."""
    with pytest.raises(InvalidQuery, match=reason) as refused:
        clean_aliases(["Kigari", alias])
    assert repr(" ".join(alias.split())) in refused.value.message
    assert refused.value.message.startswith("aliases[1]: ")


@pytest.mark.parametrize("alias", ["Kigari", "Le Québec", "Qc", "Na Kigali", "DC", "R9"])
def test_names_that_contain_common_words_are_fine(alias: str) -> None:
    """Only aliases made of nothing but common words are refused: "Le Québec" is a place."""
    assert clean_aliases([alias]) == [alias]


def test_every_language_of_our_users_has_a_list() -> None:
    assert set(STOP_WORDS) == {
        "English", "French", "Portuguese", "Spanish", "Swahili", "Kinyarwanda",
    }  # fmt: skip
    assert all(word == word.casefold() for words in STOP_WORDS.values() for word in words)


@pytest.mark.parametrize("alias", ["Kig\x00ari", "Kig\x1bari", "Kig\x7fari", "\x85x", "\ud800ab"])
def test_control_characters_are_refused(alias: str) -> None:
    with pytest.raises(InvalidQuery, match=r"aliases\[0\]: control character U\+"):
        clean_aliases([alias])


def test_the_api_refuses_common_aliases_with_a_400_and_changes_nothing(site: SampleSite) -> None:
    from tests.geo.api.conftest import ApiClient

    api = ApiClient(site.token)
    before = BoundaryAlias.objects.count()
    response = api.put("/api/v1/boundaries/R9001/aliases", {"aliases": ["Green Coast", "na"]})
    assert response.status_code == 400
    assert response.json()["error"]["message"].startswith("aliases[1]: 'na' is only common words")
    nul = api.put("/api/v1/boundaries/R9001/aliases", {"aliases": ["Green\x00Coast"]})
    assert nul.status_code == 400
    assert "U+0000" in nul.json()["error"]["message"]
    assert BoundaryAlias.objects.count() == before


def test_alias_changes_are_audited(site: SampleSite) -> None:
    set_aliases(workspace=site.workspace, osm_id="R9001", aliases=["Green Coast"])
    set_aliases(workspace=site.workspace, osm_id="R9001", aliases=["Greenie"])
    event = AuditEvent.objects.filter(action=AuditAction.ALIASES_SET).first()
    assert event is not None
    assert (event.workspace_id, event.target, event.actor) == (site.workspace.pk, "R9001", "system")
    boundary = Boundary.objects.get(osm_id="R9001")
    assert event.details == {
        "before": ["Green Coast"],
        "after": ["Greenie"],
        "boundary_id": boundary.pk,
    }
