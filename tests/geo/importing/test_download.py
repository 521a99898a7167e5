from __future__ import annotations

import json
from io import StringIO
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command

from geo.exceptions import DownloadFailed, InvalidQuery
from geo.importing.download import download_country
from tests.builders import collection, feature
from tests.repository import Repository, country_files


def listing(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir())} if folder.exists() else {}


def test_downloads_exactly_the_served_files(repo: tuple[Repository, str], tmp_path: Path) -> None:
    """Served files are written as served; the names the repository lacks are reported."""
    repository, url = repo
    country_files(repository)
    result = download_country("R12", directory=tmp_path, base_url=url, retries=0)
    assert listing(tmp_path) == repository.files
    assert "R12admin2.json" in result.missing
    assert sorted(p.name for p, _ in result.written) == sorted(repository.files)


def test_ids_are_matched_exactly(repo: tuple[Repository, str], tmp_path: Path) -> None:
    """R12 never fetches R123's files, and ids without the R prefix work."""
    repository, url = repo
    country_files(repository, "R12")
    country_files(repository, "R123")
    download_country("12", directory=tmp_path, base_url=url, retries=0)
    assert all(name.startswith("R12admin") for name in repository.requested)
    assert sorted(listing(tmp_path)) == ["R12admin0.json", "R12admin1_simplified.json"]


def test_missing_admin0_is_an_error(repo: tuple[Repository, str], tmp_path: Path) -> None:
    """A country with no admin0 file is an error and writes nothing."""
    _, url = repo
    with pytest.raises(DownloadFailed, match="R7: no admin0 file"):
        download_country("R7", directory=tmp_path, base_url=url, retries=0)
    assert listing(tmp_path) == {}


def test_server_errors_are_retried(repo: tuple[Repository, str], tmp_path: Path) -> None:
    """A 500 followed by a 200 succeeds; a persistent 500 fails naming the URL."""
    repository, url = repo
    country_files(repository)
    repository.fail_once.add("R12admin0.json")
    download_country("R12", directory=tmp_path / "a", base_url=url, retries=2)
    assert "R12admin0.json" in listing(tmp_path / "a")

    repository.always_fail.add("R12admin1_simplified.json")
    with pytest.raises(DownloadFailed, match=r"R12admin1_simplified\.json: HTTP 500"):
        download_country("R12", directory=tmp_path / "b", base_url=url, retries=1)
    assert listing(tmp_path / "b") == {}


def test_timeouts_fail_clearly(repo: tuple[Repository, str], tmp_path: Path) -> None:
    """A server slower than --timeout is a clear error."""
    repository, url = repo
    country_files(repository)
    repository.slow.add("R12admin0.json")
    with pytest.raises(DownloadFailed, match=r"no answer within 0\.2 s"):
        download_country("R12", directory=tmp_path, base_url=url, timeout=0.2, retries=0)


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b"<html>oops</html>", "not valid JSON"),
        (b'{"type": "Feature"}', "not a GeoJSON FeatureCollection"),
        (
            json.dumps(
                collection(
                    feature(
                        "R12", "L", geometry={"type": "LineString", "coordinates": [[0, 0], [1, 1]]}
                    )
                )
            ).encode(),
            "unknown geometry type 'LineString'",
        ),
    ],
)
def test_invalid_files_leave_the_folder_as_it_was(
    repo: tuple[Repository, str], tmp_path: Path, body: bytes, message: str
) -> None:
    """A file that does not validate writes nothing: old files stay, no temporary file is left."""
    repository, url = repo
    country_files(repository)
    (tmp_path / "R12admin1_simplified.json").write_bytes(b"old content")
    repository.files["R12admin0.json"] = body
    with pytest.raises(DownloadFailed, match=message):
        download_country("R12", directory=tmp_path, base_url=url, retries=0)
    assert listing(tmp_path) == {"R12admin1_simplified.json": b"old content"}


def test_bad_ids_are_refused() -> None:
    """Neither a relation id nor a known country is a clear error, with close names."""
    with pytest.raises(InvalidQuery, match="unknown country 'abc'"):
        download_country("abc", directory=Path("unused"))
    with pytest.raises(InvalidQuery, match=r"did you mean Uganda \(UG, R192796\)"):
        download_country("ugnda", directory=Path("unused"))


def test_countries_by_name_and_code(repo: tuple[Repository, str], tmp_path: Path) -> None:
    """A country name or ISO code fetches the files of its relation id from the table."""
    repository, url = repo
    country_files(repository, "R192796")
    for name in ("uganda", "UG", "UGA", "Uganda "):
        result = download_country(name, directory=tmp_path / name, base_url=url, retries=0)
        assert result.relation == "R192796"
        assert listing(tmp_path / name) == repository.files
    assert all(name.startswith("R192796admin") for name in repository.requested)


def test_command_prints_what_it_wrote(repo: tuple[Repository, str], tmp_path: Path) -> None:
    """The command prints a line per file written and per missing name; errors are CommandErrors."""
    repository, url = repo
    country_files(repository)
    out = StringIO()
    call_command(
        "download_geojson",
        "R12",
        "--base-url",
        url,
        "--dir",
        str(tmp_path),
        "--retries",
        "0",
        stdout=out,
    )
    assert f"wrote {tmp_path / 'R12admin0.json'} (" in out.getvalue()
    assert "not in the repository: R12admin3.json" in out.getvalue()
    with pytest.raises(CommandError, match="unknown country 'x1'"):
        call_command("download_geojson", "x1", "--base-url", url, "--dir", str(tmp_path))
