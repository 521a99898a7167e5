"""Fuzz the HTTP API with schemathesis (every check) against a live gunicorn.

Starts gunicorn with the production settings (DEBUG off, plain HTTP on
127.0.0.1) on the database in DATABASE_URL, imports the sample country and
makes a workspace token if needed, then runs ``schemathesis run`` against
/api/v1/openapi.json for --minutes. Prints the server errors, the responses
outside the schema, and what was tested per operation; exits 1 on any failure.

    .venv/bin/python scripts/fuzz_api.py --minutes 4 --seed 1
"""

from __future__ import annotations

import argparse
import json
import os
import re
import secrets
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def server_environment() -> dict[str, str]:
    sys.path.insert(0, str(ROOT / "scripts"))
    from bench import local_environment

    local_environment()
    return dict(
        os.environ,
        DJANGO_SETTINGS_MODULE="config.settings",
        DEBUG="false",
        SECRET_KEY=os.environ.get("SECRET_KEY") or secrets.token_urlsafe(50),
        ALLOWED_HOSTS="127.0.0.1",
        SECURE_SSL_REDIRECT="false",  # plain HTTP on loopback; the rest as production
        # schemathesis sends unknown tokens on purpose (ignored_auth): keep it un-throttled.
        MIPAKA_BAD_TOKEN_LIMIT="100000/60",
        PYTHONPATH=str(ROOT),
    )


def prepare(env: dict[str, str]) -> str:
    """Import the sample country (a no-op when unchanged) and return a read-write token."""
    manage = [sys.executable, str(ROOT / "manage.py")]
    subprocess.run([*manage, "migrate", "--no-input", "-v", "0"], env=env, check=True)
    subprocess.run(
        [*manage, "import_geojson", str(ROOT / "fixtures" / "sample"), "-v", "0"],
        env=env,
        check=True,
    )
    out = subprocess.run(
        [*manage, "create_workspace", "fuzz", "--country", "R900000", "--exist-ok"],
        env=env,
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    return out.strip().splitlines()[-1]


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--minutes", type=float, default=4.0)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--max-examples", type=int, default=200, help="per operation and phase")
    args = parser.parse_args()

    env = server_environment()
    token = prepare(env)
    port = free_port()
    report_dir = Path(tempfile.mkdtemp(prefix="mipaka-fuzz-"))
    # The server's log goes to a file: a pipe read only at the end fills up and
    # blocks the workers' logging (requests then hang).
    server_log_path = report_dir / "gunicorn.log"
    server_log_file = server_log_path.open("w")
    server = subprocess.Popen(
        [str(ROOT / ".venv/bin/gunicorn"), "config.wsgi", "--workers", "2",
         "--bind", f"127.0.0.1:{port}", "--log-level", "warning"],
        cwd=ROOT, env=env, stderr=server_log_file,
    )  # fmt: skip
    try:
        for _ in range(100):
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=1)
                break
            except OSError:
                time.sleep(0.1)
        started = time.monotonic()
        command = [
            str(ROOT / ".venv/bin/schemathesis"),
            "--config-file", str(ROOT / "schemathesis.toml"),
            "run", f"http://127.0.0.1:{port}/api/v1/openapi.json",
            "--checks", "all",
            "--header", f"Authorization: Token {token}",
            "--seed", str(args.seed),
            "--max-examples", str(args.max_examples),
            "--max-time", str(max(1, int(args.minutes * 60))),
            "--workers", "1",
            "--report", "ndjson", "--report-ndjson-path", str(report_dir / "events.ndjson"),
            "--output-truncate", "true",
        ]  # fmt: skip
        print("$", " ".join(c if not c.startswith("Authorization") else "Authorization: Token …"
                             for c in command), flush=True)  # fmt: skip
        result = subprocess.run(
            command, check=False, cwd=report_dir, capture_output=True, text=True
        )
        seconds = time.monotonic() - started
    finally:
        server.terminate()
        server.wait(timeout=30)
        server_log_file.close()
    summarise(result, report_dir / "events.ndjson", seconds, server_log_path.read_text())


def summarise(
    result: subprocess.CompletedProcess[str], events: Path, seconds: float, server_log: str
) -> None:
    per_operation: Counter[str] = Counter()
    statuses: Counter[str] = Counter()
    for line in events.read_text().splitlines() if events.exists() else []:
        for name, payload in json.loads(line).items():
            if name != "ScenarioFinished":
                continue
            for interaction in payload.get("recorder", {}).get("interactions", {}).values():
                request = interaction.get("request", {})
                response = interaction.get("response") or {}
                per_operation[f"{request.get('method', '?')} {_path(request.get('uri', ''))}"] += 1
                statuses[str(response.get("status_code", "none"))] += 1
    output = result.stdout + result.stderr
    failures: Counter[str] = Counter(
        m.group(1) for m in re.finditer(r"^- (ST\d+ [^\n]+)$", output, flags=re.MULTILINE)
    )
    server_errors = sum(n for code, n in statuses.items() if code.startswith("5"))
    server_errors += server_log.count("Internal Server Error")
    generated = re.search(r"(\d+) generated", output)
    print(f"duration: {seconds:.0f} s; test cases generated: {generated.group(1) if generated else '?'};"
          f" requests: {sum(per_operation.values())}")  # fmt: skip
    print(f"server errors (5xx or logged): {server_errors}")
    print(f"responses outside the schema: {sum(n for f, n in failures.items() if f.startswith(('ST104', 'ST103', 'ST105', 'ST106')))}")  # fmt: skip
    print("failures by check:", dict(failures) or "none")
    print("status codes:", dict(sorted(statuses.items())))
    print("requests per operation (documented methods; others are the unsupported-method check):")
    for label, count in sorted(per_operation.items()):
        if count > 1:
            print(f"  {count:>6}  {label}")
    report = events.parent / "schemathesis.txt"
    report.write_text(output)
    print(f"requests without an answer (client timeout): {statuses.get('none', 0)};"
          f" gunicorn worker timeouts: {server_log.count('WORKER TIMEOUT')}")  # fmt: skip
    print(f"schemathesis output: {report} (and gunicorn.log beside it)")
    sys.exit(0 if result.returncode == 0 and server_errors == 0 else 1)


def _path(uri: str) -> str:
    path = uri.split("://", 1)[-1].split("/", 1)[-1].split("?", 1)[0]
    parts = path.split("/")
    # Fold ids and tile numbers into the operation's template.
    if parts[:3] == ["api", "v1", "boundaries"] and len(parts) > 3:
        parts[3] = "{osm_id}"
    if parts and parts[0] == "tiles":
        return "/tiles/{z}/{x}/{y}.mvt"
    return "/" + "/".join(parts)


if __name__ == "__main__":
    main()
