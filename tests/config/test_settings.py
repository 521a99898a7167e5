"""Production settings: a missing one stops the start with one line; check --deploy is clean."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
from django.conf import settings

from config.settings import production_problems
from tests.conftest import ROOT

PRODUCTION = {
    "DEBUG": "false",
    "SECRET_KEY": "k" * 20 + "production-only-secret-0123456789-abcdefgh",
    "ALLOWED_HOSTS": "mipaka.example.org",
    "DATABASE_URL": "postgis://mipaka@db.internal:5432/mipaka",
    "REDIS_URL": "redis://cache.internal:6379/0",
    "SECURE_PROXY_SSL_HEADER": "X-Forwarded-Proto",
    "CSRF_TRUSTED_ORIGINS": "https://mipaka.example.org",
}
# What the test run itself puts in the environment, which a deployment does not have.
TEST_ONLY = {"DJANGO_SETTINGS_MODULE", "MIPAKA_TEST_CACHE_PREFIX", "TEST_REDIS_URL"}


def manage(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    base = {k: v for k, v in os.environ.items() if k not in TEST_ONLY | set(PRODUCTION)}
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env={**base, "DJANGO_SETTINGS_MODULE": "config.settings", **env},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_check_deploy_is_clean_with_production_settings() -> None:
    """HSTS, secure cookies behind the TLS proxy, SSL redirect, a strong key: no warning."""
    # A real database: the deploy checks read its durability settings (fsync and co).
    database = settings.DATABASES["default"]
    real = f"postgis://{database['USER']}@{database['HOST']}:{database['PORT'] or 5432}/{database['NAME']}"
    env = {**PRODUCTION, "DATABASE_URL": real}
    result = manage("check", "--deploy", "--fail-level", "WARNING", env=env)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "System check identified no issues" in result.stdout


def test_check_deploy_warns_when_production_is_weakened() -> None:
    """The check above can fail: turning HSTS off is reported."""
    result = manage(
        "check", "--deploy", "--fail-level", "WARNING",
        env={**PRODUCTION, "SECURE_HSTS_SECONDS": "0", "SESSION_COOKIE_SECURE": "false"},
    )  # fmt: skip
    assert result.returncode != 0
    assert "security.W004" in result.stderr and "security.W012" in result.stderr


@pytest.mark.parametrize(
    ("missing", "message"),
    [
        ("SECRET_KEY", "SECRET_KEY is not set"),
        ("ALLOWED_HOSTS", "ALLOWED_HOSTS is not set"),
        ("DATABASE_URL", "DATABASE_URL is not set"),
        ("REDIS_URL", "REDIS_URL is not set"),
    ],
)
def test_production_without_a_required_setting_stops_with_one_line(
    missing: str, message: str
) -> None:
    env = {k: v for k, v in PRODUCTION.items() if k != missing}
    result = manage("check", env=env)
    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("mipaka: production settings (DEBUG is off) are incomplete: ")
    assert message in lines[0]


def test_a_weak_key_or_any_host_is_refused() -> None:
    assert production_problems({**PRODUCTION, "SECRET_KEY": "change-me"}) == [
        (
            "SECRET_KEY is too weak (50+ random characters, e.g."
            " python -c 'import secrets; print(secrets.token_urlsafe(50))')"
        )
    ]
    assert production_problems({**PRODUCTION, "ALLOWED_HOSTS": "*"}) == [
        "ALLOWED_HOSTS must name the hosts, not '*'"
    ]
    assert production_problems(PRODUCTION) == []


def test_development_needs_no_secret() -> None:
    """DEBUG=true starts without SECRET_KEY, ALLOWED_HOSTS or REDIS_URL (scripts/run)."""
    result = manage("check", env={"DEBUG": "true"})
    assert result.returncode == 0, result.stderr
    assert "System check identified no issues" in result.stdout


def test_gunicorn_stops_at_once_on_a_production_misconfiguration() -> None:
    """The app server does not loop on a broken worker: one line, and it exits."""
    env = {k: v for k, v in os.environ.items() if k not in TEST_ONLY | set(PRODUCTION)}
    result = subprocess.run(
        [sys.executable, "-m", "gunicorn", "config.wsgi", "--bind", "127.0.0.1:0"],
        cwd=ROOT,
        env={**env, "DJANGO_SETTINGS_MODULE": "config.settings", "DEBUG": "false"},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode != 0
    assert "mipaka: production settings (DEBUG is off) are incomplete" in result.stderr
    assert "Traceback" not in result.stderr
