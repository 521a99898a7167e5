from __future__ import annotations

import pytest
from django.contrib.gis.db.backends.postgis.base import DatabaseWrapper
from django.db import connection

from config.database import DatabaseUrlError, parse_database_url


def test_multi_host_url_becomes_comma_lists_and_libpq_options() -> None:
    """host1:port1,host2:port2 becomes HOST and PORT lists; query parameters become OPTIONS."""
    config = parse_database_url(
        "postgis://app:s%40cret@db1:5432,db2:5433,[::1]/mipaka?target_session_attrs=read-write",
        conn_max_age=60,
        conn_health_checks=True,
    )
    assert config["HOST"] == "db1,db2,::1"
    assert config["PORT"] == "5432,5433,5432"
    assert (config["USER"], config["PASSWORD"], config["NAME"]) == ("app", "s@cret", "mipaka")
    assert config["OPTIONS"] == {"target_session_attrs": "read-write"}
    assert config["CONN_HEALTH_CHECKS"] is True
    assert config["ENGINE"] == "django.contrib.gis.db.backends.postgis"


def test_single_host_url_is_read_as_before() -> None:
    """A one-host URL still goes through dj-database-url, with the GeoDjango engine."""
    config = parse_database_url("postgres://u@h:6000/d", conn_max_age=0, conn_health_checks=False)
    assert (config["HOST"], config["PORT"], config["NAME"]) == ("h", 6000, "d")
    assert config["ENGINE"] == "django.contrib.gis.db.backends.postgis"


def test_bad_urls_say_what_is_wrong() -> None:
    """An unknown scheme or an empty host is one clear error."""
    with pytest.raises(DatabaseUrlError, match="scheme 'mysql'"):
        parse_database_url("mysql://u@h/d", conn_max_age=0, conn_health_checks=False)
    with pytest.raises(DatabaseUrlError, match="empty host"):
        parse_database_url("postgis://u@h:1,:2/d", conn_max_age=0, conn_health_checks=False)


@pytest.mark.django_db
def test_psycopg_skips_a_dead_host_and_keeps_the_writable_one() -> None:
    """Django + psycopg accept the comma lists: a refused first host, then the real primary."""
    settings = connection.settings_dict
    url = (
        f"postgis://{settings['USER']}@127.0.0.1:1,{settings['HOST']}:{settings['PORT'] or 5432}"
        f"/{settings['NAME']}?target_session_attrs=read-write&connect_timeout=2"
    )
    config = {**settings, **parse_database_url(url, conn_max_age=0, conn_health_checks=True)}
    wrapper = DatabaseWrapper(config, alias="multi-host")
    try:
        with wrapper.cursor() as cursor:
            cursor.execute("SELECT inet_server_port(), pg_is_in_recovery()")
            port, standby = cursor.fetchone()
    finally:
        wrapper.close()
    assert port == int(settings["PORT"] or 5432)
    assert standby is False
