"""Fetch a country's posm-extracts files from a repository, validate, write atomically.

Fixes what RapidPro's ``download_geojson`` gets wrong: names are matched
exactly (``R123`` never fetches ``R1234…``), HTTP errors are never written to
disk, every file is validated by the import's own parser first, and a
country's files are written all or nothing, each through a temporary file
and an atomic rename.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import requests
import urllib3
from requests.adapters import HTTPAdapter
from urllib3.util.retry import Retry

from geo.exceptions import DownloadFailed
from geo.importing.countries import resolve_relation
from geo.importing.parse import parse_source
from geo.importing.types import SourceFile

DEFAULT_BASE_URL = "https://raw.githubusercontent.com/nyaruka/posm-extracts/master/geojson/"
LEVELS = range(4)


@dataclass(frozen=True, slots=True)
class DownloadResult:
    """What a download wrote, and which candidate names the repository does not have."""

    relation: str
    written: list[tuple[Path, int]] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)


def candidate_names(relation: str, *, simplified_only: bool = False) -> list[str]:
    """Return the file names a country may have in a posm-extracts repository."""
    names = []
    for level in LEVELS:
        if not simplified_only:
            names.append(f"{relation}admin{level}.json")
        names.append(f"{relation}admin{level}_simplified.json")
    return names


def make_session(*, retries: int) -> requests.Session:
    """Return a session that retries connection errors and 429/5xx answers with backoff."""
    session = requests.Session()
    retry = Retry(
        total=retries,
        backoff_factor=0.2,
        status_forcelist=(429, 500, 502, 503, 504),
        allowed_methods=frozenset({"GET"}),
        raise_on_status=False,
    )
    adapter = HTTPAdapter(max_retries=retry)
    session.mount("http://", adapter)
    session.mount("https://", adapter)
    return session


def download_country(
    relation_id: str,
    *,
    directory: Path,
    base_url: str = DEFAULT_BASE_URL,
    timeout: float = 30.0,
    retries: int = 3,
    simplified_only: bool = False,
    session: requests.Session | None = None,
    progress: Callable[[str], None] | None = None,
) -> DownloadResult:
    """Download, validate and write one country's files.

    Parameters
    ----------
    relation_id
        ``R171496`` or ``171496``, or a country's name or ISO 3166 code
        (``rwanda``, ``RW``, ``RWA``) from the country table.
    directory
        Where the files go (created if needed).
    base_url
        The repository folder holding the files; a mirror's URL works too.
    timeout
        Seconds to wait for each connection and each read.
    retries
        Retries of connection errors and 429/5xx answers.
    simplified_only
        Fetch only the ``_simplified`` files.
    session
        A ``requests`` session to use instead of a new retrying one.
    progress
        Called with each file name as it is fetched.

    Raises
    ------
    InvalidQuery
        A country the country table cannot resolve.
    DownloadFailed
        A file could not be fetched, is not valid posm-extracts GeoJSON, or
        the country has no admin0 file. Nothing is written then.
    """
    relation = resolve_relation(relation_id)
    session = session or make_session(retries=retries)
    base = base_url.rstrip("/") + "/"
    fetched: dict[str, bytes] = {}
    missing: list[str] = []
    for name in candidate_names(relation, simplified_only=simplified_only):
        if progress:
            progress(name)
        body = _fetch(session, base + name, timeout=timeout)
        if body is None:
            missing.append(name)
            continue
        _validate(name, body, relation)
        fetched[name] = body
    if not any(name.startswith(f"{relation}admin0") for name in fetched):
        raise DownloadFailed(
            f"{relation}: no admin0 file at {base} (is the id or --base-url right?)"
        )
    directory.mkdir(parents=True, exist_ok=True)
    written = [
        (_write_atomically(directory / name, body), len(body)) for name, body in fetched.items()
    ]
    return DownloadResult(relation=relation, written=written, missing=missing)


def _fetch(session: requests.Session, url: str, *, timeout: float) -> bytes | None:
    try:
        response = session.get(url, timeout=timeout)
    except requests.RequestException as exc:
        if _timed_out(exc):
            raise DownloadFailed(f"{url}: no answer within {timeout:g} s") from exc
        raise DownloadFailed(f"{url}: {type(exc).__name__}: {exc}") from exc
    if response.status_code == 404:
        return None
    if response.status_code != 200:
        raise DownloadFailed(f"{url}: HTTP {response.status_code} {response.reason}")
    return response.content


def _timed_out(exc: BaseException) -> bool:
    """Tell a timeout apart, also when retries wrapped it (MaxRetryError → ReadTimeoutError)."""
    pending: list[BaseException] = [exc]
    seen: set[int] = set()
    while pending:
        current = pending.pop()
        if id(current) in seen:
            continue
        seen.add(id(current))
        if isinstance(current, requests.Timeout | TimeoutError | urllib3.exceptions.TimeoutError):
            return True
        linked = [
            getattr(current, "reason", None),
            current.__cause__,
            current.__context__,
            *current.args,
        ]
        pending.extend(item for item in linked if isinstance(item, BaseException))
    return False


def _validate(name: str, body: bytes, relation: str) -> None:
    level = int(name[len(relation) + len("admin")])
    source = SourceFile(
        label=name,
        group=relation,
        level=level,
        simplified=name.endswith("_simplified.json"),
        country_key=relation,
        read=lambda: body,
    )
    problems = parse_source(source).problems
    if problems:
        shown = "; ".join(str(problem) for problem in problems[:3])
        more = f" (and {len(problems) - 3} more)" if len(problems) > 3 else ""
        raise DownloadFailed(
            f"{name} is not valid posm-extracts GeoJSON: {shown}{more}; nothing was written"
        )


def _write_atomically(path: Path, body: bytes) -> Path:
    handle = tempfile.NamedTemporaryFile(dir=path.parent, prefix=f".{path.name}.", delete=False)  # noqa: SIM115
    try:
        with handle:
            handle.write(body)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(handle.name, path)
    except BaseException:
        Path(handle.name).unlink(missing_ok=True)
        raise
    return path
