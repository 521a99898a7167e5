"""Write the Mipakaland sample files (see fixtures/README.md).

Usage, from the repository root:

    .venv/bin/python scripts/make_sample_country.py [--out fixtures/sample]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--out",
        type=Path,
        default=REPO_ROOT / "fixtures" / "sample",
        help="folder to write into (default: fixtures/sample in the repository)",
    )
    args = parser.parse_args(argv)

    if str(REPO_ROOT) not in sys.path:
        sys.path.insert(0, str(REPO_ROOT))
    from geo.sample import write_sample_country

    for path in write_sample_country(args.out):
        print(f"{path.stat().st_size:>8,} bytes  {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
