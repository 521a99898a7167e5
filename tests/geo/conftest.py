from __future__ import annotations

from collections.abc import Iterator

import pytest
from django.core.cache import cache

from geo.lookup.snapshot import lookup_data
from geo.shared_state import shared_state
from geo.workspaces import forget_cached_tokens
from tests.geo.web.conftest import SampleSite, make_sample_site


@pytest.fixture(autouse=True)
def fresh_caches() -> Iterator[None]:
    """Each test starts with empty caches, per process and shared (they outlive transactions).

    The shared one holds the rate-limit counters: every test client comes from
    127.0.0.1, and one test's unknown tokens must not lock out the next.
    """
    cache.clear()
    shared_state.close()  # what it mirrored of the cache just cleared
    lookup_data.forget()
    forget_cached_tokens()
    yield
    lookup_data.forget()
    forget_cached_tokens()


@pytest.fixture
def site(db: None) -> SampleSite:
    """The sample country imported, a workspace on it, and one person per role."""
    return make_sample_site()
