"""CSV tables of stored values, resolved column by column: read, resolve, write back.

For the resolve page: a person uploads a CSV exported from a flow or a
contact list, picks the column holding stored locations, and gets the same
CSV back with three columns beside it (``<column>_status``, ``<column>_today``,
``<column>_osm_id``). Pure but for ``resolve`` itself (which reads the
history index).
"""

from __future__ import annotations

import codecs
import csv
import io
from dataclasses import dataclass

from geo.exceptions import InvalidQuery
from geo.lookup.resolve import resolve, today_path
from geo.workspaces import WorkspaceAccess

MAX_TABLE_BYTES = 5_000_000
MAX_TABLE_ROWS = 100_000
DELIMITERS = ",;\t"
# How much of the file the delimiter is guessed from.
SNIFF_BYTES = 64 * 1024
CANDIDATES_JOINER = " | "
BYTE_ORDER_MARKS = (
    (codecs.BOM_UTF8, "utf-8"),
    (codecs.BOM_UTF16_LE, "utf-16-le"),
    (codecs.BOM_UTF16_BE, "utf-16-be"),
)


@dataclass(frozen=True, slots=True)
class Table:
    """A CSV as read: its header, rows, delimiter, and whether it began with a byte-order mark."""

    header: list[str]
    rows: list[list[str]]
    delimiter: str
    bom: bool


def decode_table(data: bytes, *, name: str = "file") -> tuple[str, bool]:
    """Return the text of a CSV file and whether it carried a byte-order mark.

    UTF-8 with or without a BOM, and UTF-16 with one (what spreadsheets save
    as "Unicode text").

    Raises
    ------
    InvalidQuery
        Not UTF-8 (nor BOM-marked UTF-16), or holding a NUL.
    """
    encoding, marked = "utf-8", False
    for bom, marked_encoding in BYTE_ORDER_MARKS:
        if data.startswith(bom):
            data, encoding, marked = data[len(bom) :], marked_encoding, True
            break
    try:
        text = data.decode(encoding)
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise InvalidQuery(
            f"{name}: not UTF-8 text (byte 0x{data[exc.start]:02X} on line {line});"
            " save it as CSV UTF-8"
        ) from None
    if "\x00" in text:
        raise InvalidQuery(f"{name}: holds NUL characters; not a text CSV")
    return text, marked


def sniff_delimiter(text: str) -> str:
    """Guess the delimiter among comma, semicolon and tab from the start of a CSV."""
    sample = text[:SNIFF_BYTES]
    try:
        return csv.Sniffer().sniff(sample, delimiters=DELIMITERS).delimiter
    except csv.Error:
        first = sample.split("\n", 1)[0]
        return max(DELIMITERS, key=first.count) if any(d in first for d in DELIMITERS) else ","


def read_table(data: bytes, *, name: str = "file", max_bytes: int = MAX_TABLE_BYTES) -> Table:
    """Read a CSV file with a header row.

    Raises
    ------
    InvalidQuery
        Over ``max_bytes`` or ``MAX_TABLE_ROWS``, not UTF-8, not CSV, or no header.
    """
    if len(data) > max_bytes:
        raise InvalidQuery(f"{name}: larger than the limit of {max_bytes:,} bytes")
    text, bom = decode_table(data, name=name)
    delimiter = sniff_delimiter(text)
    try:
        rows = list(csv.reader(io.StringIO(text, newline=""), delimiter=delimiter))
    except csv.Error as exc:
        raise InvalidQuery(f"{name}: not a CSV file ({exc})") from None
    rows = [row for row in rows if any(cell.strip() for cell in row)]
    if not rows:
        raise InvalidQuery(f"{name}: empty; expected a header row, then one row per value")
    if len(rows) - 1 > MAX_TABLE_ROWS:
        raise InvalidQuery(f"{name}: more than {MAX_TABLE_ROWS:,} rows")
    header = [cell.strip() for cell in rows[0]]
    return Table(header=header, rows=rows[1:], delimiter=delimiter, bom=bom)


def column_index(table: Table, column: str) -> int:
    """Return the position of a header column (exact, else ignoring case and spaces).

    Raises
    ------
    InvalidQuery
        No such column.
    """
    if column in table.header:
        return table.header.index(column)
    folded = [cell.casefold() for cell in table.header]
    if column.strip().casefold() in folded:
        return folded.index(column.strip().casefold())
    raise InvalidQuery(
        f"column: no column {column!r}; the header has {', '.join(map(repr, table.header))}"
    )


def resolve_table(
    table: Table, *, column: str, workspace: WorkspaceAccess, level: int | None = None
) -> str:
    """Return the table as CSV with ``<column>_status``, ``_today``, ``_osm_id`` beside ``column``.

    ``_today`` is today's path, or the candidates' paths joined with " | "
    (a split, most share first, or an ambiguous name); ``_osm_id`` likewise.
    Each distinct value is resolved once. The delimiter and the byte-order
    mark of the input are kept.
    """
    position = column_index(table, column)
    name = table.header[position]
    values = [row[position] if position < len(row) else "" for row in table.rows]
    distinct = list(dict.fromkeys(values))
    answers = {r.value: r for r in resolve(distinct, workspace=workspace, level=level)}
    out = io.StringIO(newline="")
    if table.bom:
        out.write("\ufeff")
    writer = csv.writer(out, delimiter=table.delimiter, lineterminator="\r\n")
    added = [f"{name}_status", f"{name}_today", f"{name}_osm_id"]
    writer.writerow(_beside(table.header, position, added))
    for row, value in zip(table.rows, values, strict=True):
        answer = answers[value]
        if answer.boundary is not None:
            osm_ids = answer.boundary.osm_id
        else:
            osm_ids = CANDIDATES_JOINER.join(c.boundary.osm_id for c in answer.candidates)
        cells = [answer.status, today_path(answer, joiner=CANDIDATES_JOINER), osm_ids]
        padded = row + [""] * (len(table.header) - len(row))
        writer.writerow(_beside(padded, position, cells))
    return out.getvalue()


def _beside(row: list[str], position: int, cells: list[str]) -> list[str]:
    return [*row[: position + 1], *cells, *row[position + 1 :]]
