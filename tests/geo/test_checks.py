from __future__ import annotations

import pytest

from geo.checks import check_database_durability, durability_problems


def test_each_setting_that_loses_writes_is_named() -> None:
    """fsync, full_page_writes and synchronous_commit off are each one problem."""
    problems = durability_problems(
        {"fsync": "off", "full_page_writes": "off", "synchronous_commit": "local"}
    )
    assert [p.split(" ")[0] for p in problems] == [
        "fsync",
        "full_page_writes",
        "synchronous_commit",
    ]
    assert (
        durability_problems(
            {"fsync": "on", "full_page_writes": "on", "synchronous_commit": "remote_apply"}
        )
        == []
    )


@pytest.mark.django_db
def test_the_test_database_is_durable() -> None:
    """The check reads the real settings; this machine's PostgreSQL keeps them on."""
    assert check_database_durability() == []


def test_check_runs_with_deploy(capsys: pytest.CaptureFixture[str]) -> None:
    """Registered for --deploy (not as a database check, which needs --database)."""
    from django.core.checks.registry import registry

    assert check_database_durability in registry.get_checks(include_deployment_checks=True)
    assert check_database_durability not in registry.get_checks()
