"""Shared by the benchmark scripts."""

import os
import secrets
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def local_environment() -> None:
    """Fill in what the production settings require for a run on this machine.

    Benchmarks run with DEBUG off, like production, against the local
    database and Redis (scripts/setup's); a real deployment sets its own.
    """
    database_url = ROOT / ".venv" / "database-url"
    if "DATABASE_URL" not in os.environ and database_url.exists():
        key, _, value = database_url.read_text().strip().partition("=")
        os.environ[key] = value
    os.environ.setdefault("DATABASE_URL", "postgis://postgres@127.0.0.1:5432/mipaka")
    os.environ.setdefault("REDIS_URL", "redis://127.0.0.1:6379/0")
    os.environ.setdefault("ALLOWED_HOSTS", "127.0.0.1,localhost")
    os.environ.setdefault("SECRET_KEY", secrets.token_urlsafe(50))
