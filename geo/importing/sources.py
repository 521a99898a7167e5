"""Find the GeoJSON files an import reads, in files, folders and zips.

Two file-name forms are understood, as RapidPro's importer does:
``R<relation>admin<N>[_simplified].json`` and ``admin_level_<N>[_simplified].json``.
Where a full-resolution file and its ``_simplified`` twin are both given, the
full one is read; where only the simplified one exists, it is used instead.
"""

from __future__ import annotations

import re
import zipfile
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from geo.exceptions import InvalidInput, NoInput
from geo.importing.types import SourceFile, printable

RELATION_FILE = re.compile(
    r"^(?P<group>\w*?\d+)admin(?P<level>\d)(?P<simplified>_simplified)?\.json$"
)
LEVEL_FILE = re.compile(r"^admin_level_(?P<level>\d)(?P<simplified>_simplified)?\.json$")
MAX_LEVEL = 3


@dataclass(slots=True)
class SourceSelection:
    """The files chosen for a run, and every file passed over, with the reason."""

    files: list[SourceFile] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    # _simplified files not read because their full-resolution twin was given.
    twins_unused: int = 0
    # Levels for which only the _simplified file exists (its geometry is kept).
    simplified_only: int = 0


def same_relation(a: str, b: str) -> bool:
    """Tell whether two relation ids name the same relation (``R171496`` == ``171496``)."""
    return a.removeprefix("R") == b.removeprefix("R")


def discover_sources(paths: Sequence[str | Path], *, country: str | None = None) -> SourceSelection:
    """Expand paths (files, folders, zips) into the files to import.

    Parameters
    ----------
    paths
        Files, folders (searched recursively) and zip archives, in any mix.
    country
        Keep only ``R<country>admin<N>`` files (``R171496`` or ``171496``).
        ``admin_level_<N>`` files hold no country in their name; they are kept
        and their features filtered later by the country they belong to.

    Raises
    ------
    NoInput
        A path does not exist, or nothing importable was found.
    InvalidInput
        Two different files claim the same country and level, or a level is
        outside 0 to 3.
    """
    candidates: list[tuple[str, str, Callable[[], bytes]]] = []  # (label, group hint, reader)
    selection = SourceSelection()
    for raw in paths:
        path = Path(raw)
        if not path.exists():
            raise NoInput(f"{path}: no such file or folder")
        candidates.extend(_expand(path))

    chosen = _chosen_by_country_and_level(candidates, country=country, selection=selection)
    for pair in (chosen[key] for key in sorted(chosen, key=lambda key: (key[1], key[0]))):
        # Full resolution wins; the _simplified twin stands in only when it is alone.
        selection.files.append(pair.get(False) or pair[True])
        selection.twins_unused += len(pair) - 1
        selection.simplified_only += int(False not in pair)
    if not selection.files:
        where = ", ".join(str(p) for p in paths)
        raise NoInput(f"{where}: no R<id>admin<N>.json or admin_level_<N>.json file found")
    return selection


def _chosen_by_country_and_level(
    candidates: Iterable[tuple[str, str, Callable[[], bytes]]],
    *,
    country: str | None,
    selection: SourceSelection,
) -> dict[tuple[str, int], dict[bool, SourceFile]]:
    """Group usable files by (group, level), then by whether they are simplified."""
    chosen: dict[tuple[str, int], dict[bool, SourceFile]] = {}
    problems: list[str] = []
    seen_labels: set[str] = set()
    for label, folder, reader in candidates:
        if label in seen_labels:
            continue
        seen_labels.add(label)
        source = _classify(label, folder, reader)
        if source is None:
            selection.skipped.append(
                f"{label}: name matches neither R<id>admin<N>.json nor admin_level_<N>.json"
            )
        elif source.level > MAX_LEVEL:
            problems.append(
                f"{label}: level {source.level} is not supported (levels are 0 to {MAX_LEVEL})"
            )
        elif country and source.country_key and not same_relation(source.country_key, country):
            selection.skipped.append(f"{label}: not country {country}")
        else:
            slot = chosen.setdefault((source.group, source.level), {})
            if source.simplified in slot:
                problems.append(
                    f"{label}: same country and level as {slot[source.simplified].label}; give only one"
                )
            else:
                slot[source.simplified] = source
    if problems:
        raise InvalidInput(problems)
    return chosen


def _base_name(label: str) -> str:
    return re.split(r"[/!]", label)[-1]


def _classify(label: str, folder: str, reader: Callable[[], bytes]) -> SourceFile | None:
    name = _base_name(label)
    country_key: str | None
    if match := RELATION_FILE.match(name):
        group = country_key = match["group"]
    elif match := LEVEL_FILE.match(name):
        group, country_key = folder, None
    else:
        return None
    return SourceFile(
        label=label,
        group=group,
        level=int(match["level"]),
        simplified=bool(match["simplified"]),
        country_key=country_key,
        read=reader,
    )


def _expand(path: Path) -> Iterable[tuple[str, str, Callable[[], bytes]]]:
    if path.is_dir():
        for child in sorted(path.rglob("*")):
            if child.is_file() and child.suffix.lower() in {".json", ".geojson", ".zip"}:
                yield from _expand(child)
    elif path.suffix.lower() == ".zip":
        yield from _expand_zip(path)
    else:
        # Labels name files in reports and records: printable whatever the file name holds.
        yield (
            printable(str(path), limit=1000),
            printable(str(path.parent), limit=1000),
            path.read_bytes,
        )


# An archive entry named like this would land outside the folder it is unpacked in.
CLIMBING_ENTRY = re.compile(r"^([/\\]|[A-Za-z]:)|(^|[/\\])\.\.([/\\]|$)")


def _expand_zip(path: Path) -> Iterable[tuple[str, str, Callable[[], bytes]]]:
    try:
        with zipfile.ZipFile(path) as archive:
            members = [info.filename for info in archive.infolist() if not info.is_dir()]
    except (zipfile.BadZipFile, OSError, ValueError, NotImplementedError) as exc:
        raise InvalidInput([f"{path}: not a readable zip archive ({exc})"]) from exc
    climbing = [member for member in members if CLIMBING_ENTRY.search(member)]
    if climbing:
        # Nothing is unpacked here, but such an archive is crafted or broken: refuse it whole.
        raise InvalidInput(
            [
                f"{path}!{printable(member)}: entry name climbs out of the archive's folder "
                "(absolute, or with '..'); the archive is refused"
                for member in climbing
            ]
        )
    for member in sorted(members):
        if not member.lower().endswith(".json"):
            continue
        folder = f"{path}!{member.rsplit('/', 1)[0] if '/' in member else ''}"
        yield (
            printable(f"{path}!{member}", limit=1000),
            printable(folder, limit=1000),
            _zip_reader(path, member),
        )


@dataclass(frozen=True, slots=True)
class ZipMember:
    """Reads one member of a zip archive; picklable, so worker processes can read it."""

    path: Path
    member: str

    def __call__(self) -> bytes:
        """Return the member's bytes.

        Raises
        ------
        OSError
            The member cannot be read (corrupt, encrypted, unknown compression).
        """
        try:
            with zipfile.ZipFile(self.path) as archive:
                return archive.read(self.member)
        except (zipfile.BadZipFile, RuntimeError, NotImplementedError, ValueError, EOFError) as exc:
            raise OSError(f"zip entry cannot be read: {exc}") from exc


def _zip_reader(path: Path, member: str) -> Callable[[], bytes]:
    return ZipMember(path, member)
