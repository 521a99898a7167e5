"""Shared by the benchmark scripts."""

import os
import secrets
import subprocess
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


def export_tree(ref: str, target: Path) -> Path:
    """Write the files of a git ref into ``target`` (no git state), with this checkout's virtualenv.

    What a benchmark measures beside this tree, in the same run.
    """
    target.mkdir(parents=True)
    archive = subprocess.run(
        ["git", "archive", "--format=tar", ref], cwd=ROOT, capture_output=True, check=True
    ).stdout
    subprocess.run(["tar", "-x", "-C", str(target)], input=archive, check=True)
    (target / ".venv").symlink_to(ROOT / ".venv")
    return target
