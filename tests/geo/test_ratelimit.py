"""Failures counted per address in Redis: unknown tokens and failed sign-ins end in 429."""

from __future__ import annotations

from typing import Any

import pytest
from django.core.cache import cache
from django.test import Client

from geo import ratelimit
from tests.geo.web.conftest import PASSWORD, SampleSite

pytestmark = pytest.mark.django_db


def test_guessing_tokens_ends_in_429_with_retry_after_for_every_token(
    site: SampleSite, settings: Any
) -> None:
    settings.MIPAKA_BAD_TOKEN_LIMIT = (5, 60)
    client = Client(REMOTE_ADDR="203.0.113.7")
    guesses = [
        client.get("/api/v1/ping", headers={"Authorization": f"Token guess-{n}"}).status_code
        for n in range(5)
    ]
    assert guesses == [401] * 5
    limited = client.get("/api/v1/ping", headers={"Authorization": "Token guess-6"})
    assert limited.status_code == 429
    assert 1 <= int(limited["Retry-After"]) <= 60
    assert limited.json()["error"]["code"] == "rate_limited"
    # The real token too: a hit must not be told apart from a miss while limited.
    real = client.get("/api/v1/ping", headers={"Authorization": f"Token {site.token}"})
    assert real.status_code == 429
    # Another address is not affected.
    other = Client(REMOTE_ADDR="203.0.113.8")
    assert (
        other.get("/api/v1/ping", headers={"Authorization": f"Token {site.token}"}).status_code
        == 200
    )


def test_the_counter_is_shared_through_redis(site: SampleSite, settings: Any) -> None:
    """What one worker counted, another sees: the count lives in the shared cache."""
    settings.MIPAKA_BAD_TOKEN_LIMIT = (3, 60)
    limit = ratelimit.bad_token_limit()
    for _ in range(3):
        ratelimit.record_failure(limit, "198.51.100.1")
    window, _ = ratelimit._window(limit)
    assert cache.get(ratelimit._key(limit, "198.51.100.1", window)) == 3
    client = Client(REMOTE_ADDR="198.51.100.1")
    assert (
        client.get("/api/v1/ping", headers={"Authorization": f"Token {site.token}"}).status_code
        == 429
    )


def test_the_client_address_behind_proxies(settings: Any) -> None:
    from django.test import RequestFactory

    request = RequestFactory().get(
        "/", REMOTE_ADDR="10.0.0.1", HTTP_X_FORWARDED_FOR="1.2.3.4, 5.6.7.8"
    )
    settings.MIPAKA_PROXY_COUNT = 0
    assert ratelimit.client_ip(request) == "10.0.0.1"
    settings.MIPAKA_PROXY_COUNT = 1
    assert (
        ratelimit.client_ip(request) == "5.6.7.8"
    )  # what the one proxy saw; not the client's claim


def test_failed_sign_ins_end_in_429_and_say_when_to_retry(site: SampleSite, settings: Any) -> None:
    settings.MIPAKA_SIGN_IN_LIMIT = (3, 300)
    client = Client(REMOTE_ADDR="203.0.113.9")
    for _ in range(3):
        wrong = client.post("/accounts/login/", {"username": "admin", "password": "wrong"})
        assert wrong.status_code == 200
        assert "didn't match" in wrong.content.decode()
    limited = client.post("/accounts/login/", {"username": "admin", "password": PASSWORD})
    assert limited.status_code == 429
    assert 1 <= int(limited["Retry-After"]) <= 300
    assert "Too many failed sign-ins" in limited.content.decode()
    assert "_auth_user_id" not in client.session
    other = Client(REMOTE_ADDR="203.0.113.10")
    assert (
        other.post("/accounts/login/", {"username": "admin", "password": PASSWORD}).status_code
        == 302
    )


def test_a_cache_outage_lets_requests_through(site: SampleSite, settings: Any) -> None:
    """The limit guards against guessing; it must not take the API down with Redis."""
    settings.CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": "redis://127.0.0.1:1/0",
        }
    }
    client = Client()
    assert (
        client.get("/api/v1/ping", headers={"Authorization": f"Token {site.token}"}).status_code
        == 200
    )
    assert client.get("/api/v1/ping", headers={"Authorization": "Token nope"}).status_code == 401
