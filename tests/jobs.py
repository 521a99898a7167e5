"""Helpers for tests of import jobs: the sample country as an upload, real Celery workers."""

from __future__ import annotations

import io
import os
import signal
import subprocess
import time
import zipfile
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import redis
from django.conf import settings

from tests.conftest import ROOT, subprocess_env

CELERY = ROOT / ".venv" / "bin" / "celery"
# Generous bounds on waiting, so a broken worker fails the test instead of hanging it.
START_SECONDS = 120
JOB_SECONDS = 300
BROKER_KEYS = ("imports", "unacked", "unacked_index", "unacked_mutex")

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


class Worker:
    """A ``celery worker -Q imports -c 1`` in its own process group."""

    def __init__(self, name: str, log: Path, **env: str) -> None:
        self.name = name
        self.log = log
        command = [
            str(CELERY), "-A", "config", "worker", "-Q", "imports", "-c", "1",
            "--pool=prefork", "-n", f"{name}@%h", "--loglevel=INFO",
            "--without-gossip", "--without-mingle", "--without-heartbeat",
        ]  # fmt: skip
        self.process = subprocess.Popen(
            command,
            cwd=ROOT,
            env=subprocess_env(DJANGO_SETTINGS_MODULE="config.settings_test", **env),
            stdout=log.open("wb"),
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    @property
    def group(self) -> int:
        return self.process.pid  # the session leader: its pid is the group id

    def wait_ready(self) -> None:
        wait_for(lambda: b" ready." in self.log.read_bytes(), f"worker {self.name} ready", self)

    def runs(self, pid: int | None) -> bool:
        """Tell whether ``pid`` is one of this worker's processes."""
        try:
            return pid is not None and os.getpgid(pid) == self.group
        except ProcessLookupError:
            return False

    def kill(self) -> None:
        """SIGKILL the whole group: the main process and its pool process together."""
        os.killpg(self.group, signal.SIGKILL)
        self.process.wait()

    def stop(self) -> None:
        if self.process.poll() is None:
            os.killpg(self.group, signal.SIGKILL)
            self.process.wait()

    def tail(self) -> str:
        return self.log.read_text(errors="replace")[-3000:]


def wait_for(check: Callable[[], object], what: str, *workers: Worker) -> None:
    deadline = time.monotonic() + (START_SECONDS if "ready" in what else JOB_SECONDS)
    while not check():
        if time.monotonic() > deadline:
            logs = "\n".join(f"--- {w.name}\n{w.tail()}" for w in workers)
            pytest.fail(f"gave up waiting for {what}\n{logs}")
        time.sleep(0.05)


@pytest.fixture
def broker() -> Iterator[redis.Redis]:
    """The test broker's Redis, without jobs left by earlier tests."""
    client = redis.Redis.from_url(settings.CELERY_BROKER_URL)
    keys = [broker_key(key) for key in BROKER_KEYS]
    client.delete(*keys)
    yield client
    client.delete(*keys)


def broker_key(name: str) -> str:
    """A broker key as this test run's jobs use it (under the run's own prefix)."""
    return f"{settings.CELERY_BROKER_KEY_PREFIX}{name}"


@pytest.fixture
def workers(tmp_path: Path, broker: redis.Redis) -> Iterator[Callable[..., Worker]]:
    started: list[Worker] = []

    def start(name: str, **env: str) -> Worker:
        worker = Worker(name, tmp_path / f"{name}.log", **env)
        started.append(worker)
        worker.wait_ready()
        return worker

    yield start
    for worker in started:
        worker.stop()
