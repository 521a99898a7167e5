"""Helpers for tests of import jobs: the sample country as an upload."""

from __future__ import annotations

import io
import zipfile
from pathlib import Path

from tests.conftest import ROOT

SAMPLE = ROOT / "fixtures" / "sample"


def sample_zip(folder: Path, name: str = "sample.zip") -> Path:
    """Zip the sample country's files (as an operator would upload them)."""
    path = folder / name
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for file in sorted(SAMPLE.glob("*.json")):
            archive.write(file, f"sample/{file.name}")
    return path


def zip_of(paths: list[Path]) -> bytes:
    """A zip archive, in memory, of the given files (flat)."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for path in paths:
            archive.write(path, path.name)
    return buffer.getvalue()
