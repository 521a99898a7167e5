from __future__ import annotations

from collections.abc import Iterator

import pytest

from geo.lookup.snapshot import lookup_data
from geo.workspaces import forget_cached_tokens


@pytest.fixture(autouse=True)
def fresh_caches() -> Iterator[None]:
    """Each test starts with empty per-process caches (they outlive transactions)."""
    lookup_data.forget()
    forget_cached_tokens()
    yield
    lookup_data.forget()
    forget_cached_tokens()
