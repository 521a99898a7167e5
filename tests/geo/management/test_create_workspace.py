from __future__ import annotations

from io import StringIO
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command

from geo.importing import import_geojson
from geo.models import Workspace
from geo.workspaces import find_workspace_by_token
from tests.builders import tiny_country

pytestmark = pytest.mark.django_db


def create(*args: str) -> str:
    out = StringIO()
    call_command("create_workspace", *args, stdout=out)
    return out.getvalue().splitlines()[-1]


def test_prints_a_working_token_as_the_last_line(tmp_path: Path) -> None:
    """The last line is the token; it opens the workspace, scoped to its country."""
    import_geojson([tiny_country(tmp_path)])
    token = create("field team", "--country", "R1")
    access = find_workspace_by_token(token)
    assert access is not None
    assert access.name == "field team"
    assert access.country_id == Workspace.objects.get(name="field team").country_id


def test_errors_are_one_line(tmp_path: Path) -> None:
    """An unknown country or a taken name is a CommandError; --exist-ok issues a new token instead."""
    with pytest.raises(CommandError, match="no imported country has osm_id 'R404'"):
        create("x", "--country", "R404")
    first = create("x")
    with pytest.raises(CommandError, match="already exists"):
        create("x")
    second = create("x", "--exist-ok")
    assert second != first
    assert (
        find_workspace_by_token(first) is not None and find_workspace_by_token(second) is not None
    )


def test_admin_option_makes_a_person_who_can_sign_in(monkeypatch: pytest.MonkeyPatch) -> None:
    """--admin creates the account from MIPAKA_ADMIN_PASSWORD and makes it the workspace's admin."""
    from django.contrib.auth import authenticate

    from geo.models import Membership, Role

    with pytest.raises(CommandError, match="set MIPAKA_ADMIN_PASSWORD"):
        create("team", "--admin", "ada")
    assert not Membership.objects.exists()
    monkeypatch.setenv("MIPAKA_ADMIN_PASSWORD", "s3cret pass")
    create("team", "--exist-ok", "--admin", "ada")
    assert authenticate(username="ada", password="s3cret pass") is not None
    assert Membership.objects.get(user__username="ada").role == Role.ADMIN
    monkeypatch.setenv("MIPAKA_ADMIN_PASSWORD", "rotated")
    create("team", "--exist-ok", "--admin", "ada")  # runs again: same person, new password
    assert authenticate(username="ada", password="rotated") is not None
    assert Membership.objects.filter(user__username="ada").count() == 1


def test_language_is_set_at_creation_and_changed_with_update() -> None:
    """--language sets the display language (normalised); --update changes it, no token printed."""
    token = create("francophone", "--language", "FR")
    access = find_workspace_by_token(token)
    assert access is not None
    assert access.name_language == "fr"
    out = StringIO()
    call_command("create_workspace", "francophone", "--update", "--language", "pt_BR", stdout=out)
    assert out.getvalue() == "Workspace 'francophone' now shows names in pt-br.\n"
    assert Workspace.objects.get(name="francophone").name_language == "pt-br"
    with pytest.raises(CommandError, match="'français' is not a language code"):
        create("other", "--language", "français")
    with pytest.raises(CommandError, match="no workspace 'nowhere'"):
        call_command("create_workspace", "nowhere", "--update", "--language", "fr")
    with pytest.raises(CommandError, match="--update changes --language"):
        call_command("create_workspace", "francophone", "--update")
    assert not Workspace.objects.filter(name="other").exists()
