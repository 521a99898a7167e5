from __future__ import annotations

from io import StringIO

import pytest
from django.contrib.auth.models import User
from django.core.management import CommandError, call_command

from geo.workspaces import OperatorAccess, find_access_by_token

pytestmark = pytest.mark.django_db


def create(*args: str) -> str:
    out = StringIO()
    call_command("create_operator", *args, stdout=out)
    return out.getvalue().splitlines()[-1]


def test_prints_an_operator_token_as_the_last_line(monkeypatch: pytest.MonkeyPatch) -> None:
    """A new staff account with an unusable password; the last line is its operator token."""
    monkeypatch.delenv("MIPAKA_ADMIN_PASSWORD", raising=False)
    token = create("ops")
    user = User.objects.get(username="ops")
    assert user.is_staff and not user.is_superuser
    assert not user.has_usable_password()
    assert find_access_by_token(token) == OperatorAccess(user.pk, "ops")


def test_promotes_an_existing_person_and_sets_the_password(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """An existing account becomes staff; MIPAKA_ADMIN_PASSWORD sets its password; tokens add up."""
    User.objects.create_user(username="amina", password="old")
    monkeypatch.setenv("MIPAKA_ADMIN_PASSWORD", "new password")
    first, second = create("amina"), create("amina")
    user = User.objects.get(username="amina")
    assert user.is_staff and user.check_password("new password")
    assert first != second
    assert find_access_by_token(first) == find_access_by_token(second)


def test_needs_a_username() -> None:
    with pytest.raises(CommandError, match="username: required"):
        create(" ")
