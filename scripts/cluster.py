"""The whole Mipaka topology on one machine, for operators to try and for drills to kill.

Nodes, all on 127.0.0.1 with their own ports, data under ``var/cluster/``:

- ``lb``: HAProxy in front of the web nodes, health-checking ``/ready``.
- ``web1`` ``web2``: gunicorn (``config/gunicorn.conf.py`` when the project has it).
- ``monitor`` ``db1`` ``db2``: PostgreSQL under pg_auto_failover, a primary and a
  synchronous hot standby. pg_auto_failover, not Patroni: Patroni needs a DCS
  (an etcd or Consul cluster of its own), three more processes to watch; the
  pg_auto_failover monitor is one more PostgreSQL.
- ``redis1`` ``redis2`` and ``sentinel1..3``: a Redis master, its replica, and
  three Sentinels that elect a new master when it dies.
- ``worker1`` ``worker2``: Celery workers on the ``imports`` queue (when the
  project has ``config/celery.py``).

Each node runs in its own process group (its pid, and so its group id, in
``var/cluster/NAME.pid``): ``kill NAME`` SIGKILLs the whole group, as if the host
lost power (pg_auto_failover's keeper restarts postgres, so both go together).
PostgreSQL runs as the ``postgres`` system user, Redis as ``redis``.

Usage: scripts/cluster up|status|kill NAME|start NAME|reload NAME|restart WEBNODE|
manage ARGS...|backup|restore TIME|digest [URL]|drill [PYTEST ARGS]|down
"""

from __future__ import annotations

import contextlib
import functools
import json
import os
import pwd
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Sequence
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
VAR = ROOT / "var" / "cluster"
# Everything PostgreSQL writes (data, pg_auto_failover's state, pgBackRest), owned by postgres.
PGVAR = VAR / "pg"
PYTHON = str(ROOT / ".venv" / "bin" / "python")
PG_BIN = Path("/usr/lib/postgresql/15/bin")

# Debian packages the cluster needs; the single-machine path (scripts/setup) stays without them.
PACKAGES = [
    "haproxy",
    "postgresql-15-auto-failover",
    "postgresql-15-postgis-3",
    "pgbackrest",
    "redis-server",
    "redis-sentinel",
]

DB_NAME = "mipaka"
FORMATION_USER = "postgres"
REDIS_MASTER = "mipaka"
# The cluster's Redis servers are its own; the database number only keeps its keys apart
# on a Redis shared with others (MIPAKA_CLUSTER_REDIS_DB chooses another).
REDIS_DB = int(os.environ.get("MIPAKA_CLUSTER_REDIS_DB", "7"))
STANZA = "mipaka"
WEB_WORKERS = int(os.environ.get("MIPAKA_CLUSTER_WEB_WORKERS", "2"))
# What HAProxy, `status` and `start` ask a web node: 200 once its lookup index is loaded.
READY_PATH = "/ready"

DB_NODES = ("db1", "db2")
REDIS_NODES = ("redis1", "redis2")
SENTINELS = ("sentinel1", "sentinel2", "sentinel3")
WEB_NODES = ("web1", "web2")
WORKER_NODES = ("worker1", "worker2")
PORT_NAMES = (
    "lb",
    "web1",
    "web2",
    "monitor",
    "db1",
    "db2",
    "redis1",
    "redis2",
    *SENTINELS,
    "restore",
)
ALL_NODES = ("lb", *WEB_NODES, "monitor", *DB_NODES, *REDIS_NODES, *SENTINELS, *WORKER_NODES)

# The monitor's health checks, tuned from the defaults (5 s period, 20 s before a
# node counts as unhealthy, 30 s for an unreachable primary to demote itself) so
# that a dead primary is replaced in seconds. Split brain stays impossible for
# acknowledged writes: commits wait for the synchronous standby, which stops
# replicating from the old primary before it is promoted.
MONITOR_SETTINGS = {
    "pgautofailover.health_check_period": "1000",
    "pgautofailover.health_check_timeout": "1000",
    "pgautofailover.health_check_max_retries": "1",
    "pgautofailover.health_check_retry_delay": "500",
    "pgautofailover.node_considered_unhealthy_timeout": "2000",
    "pgautofailover.primary_demote_timeout": "3000",
}
# A keeper that loses both the monitor and its standby demotes its primary after this.
NETWORK_PARTITION_TIMEOUT_S = 2


def log(message: str) -> None:
    print(f"\033[1m[cluster]\033[0m {message}", file=sys.stderr, flush=True)


class ClusterError(Exception):
    """One clear line for the operator."""


# --- ports and identity -------------------------------------------------------------


def _port_free(port: int) -> bool:
    with socket.socket() as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def ports() -> dict[str, int]:
    """Return each node's port, chosen once (a free run of ports) and kept in var/cluster."""
    path = VAR / "ports.json"
    if path.exists():
        return {k: int(v) for k, v in json.loads(path.read_text()).items()}
    for _ in range(200):
        base = 20000 + secrets.randbelow(20000)
        candidate = range(base, base + len(PORT_NAMES) + 1)
        if all(_port_free(port) for port in candidate):
            chosen = dict(zip(PORT_NAMES, candidate, strict=False))
            VAR.mkdir(parents=True, exist_ok=True)
            path.write_text(json.dumps(chosen, indent=1))
            return chosen
    raise ClusterError("found no run of free ports between 20000 and 40000")


def secret_key() -> str:
    path = VAR / "secret-key"
    if not path.exists():
        path.write_text(secrets.token_urlsafe(40))
        path.chmod(0o600)
    return path.read_text().strip()


def database_url(p: dict[str, int], *, attrs: str = "read-write") -> str:
    hosts = ",".join(f"127.0.0.1:{p[n]}" for n in DB_NODES)
    return (
        f"postgis://{FORMATION_USER}@{hosts}/{DB_NAME}"
        f"?target_session_attrs={attrs}&connect_timeout=2"
    )


def app_env(p: dict[str, int], node: str = "") -> dict[str, str]:
    """The environment every web node, worker and manage.py run gets."""
    env = dict(os.environ)
    env.update(
        {
            "DJANGO_SETTINGS_MODULE": "config.settings",
            "DATABASE_URL": database_url(p),
            "DATABASE_REPLICA_URL": database_url(p, attrs="standby"),
            "MIPAKA_REDIS_SENTINELS": ",".join(f"127.0.0.1:{p[s]}" for s in SENTINELS),
            "MIPAKA_REDIS_MASTER": REDIS_MASTER,
            "MIPAKA_REDIS_DB": str(REDIS_DB),
            "SECRET_KEY": secret_key(),
            "DEBUG": "false",
            "ALLOWED_HOSTS": "127.0.0.1,localhost",
            # This one-machine topology speaks plain HTTP on 127.0.0.1 (no TLS proxy in
            # front): production settings otherwise, without the HTTPS-only ones.
            # deploy/ puts TLS in HAProxy and sets SECURE_PROXY_SSL_HEADER instead.
            "SECURE_SSL_REDIRECT": "false",
            "SESSION_COOKIE_SECURE": "false",
            "CSRF_COOKIE_SECURE": "false",
            "SECURE_HSTS_SECONDS": "0",
            # HAProxy in front sets X-Forwarded-For: rate limits count the real client.
            "MIPAKA_PROXY_COUNT": "1",
            "LOG_FORMAT": "json",
            "LOG_LEVEL": os.environ.get("LOG_LEVEL", "INFO"),
        }
    )
    env.pop("REDIS_URL", None)
    if node:
        env["MIPAKA_NODE"] = node
        env["PROMETHEUS_MULTIPROC_DIR"] = str(VAR / node / "metrics")
        # Each web node stands for a host: its workers share one index folder, its own.
        env["MIPAKA_INDEX_DIR"] = str(VAR / node / "index")
    return env


# --- processes -------------------------------------------------------------------------


def pid_of(name: str) -> int | None:
    path = VAR / f"{name}.pid"
    if not path.exists():
        return None
    return int(path.read_text())


def group_members(pgid: int) -> list[int]:
    """Return the live processes of a process group, and their descendants that left it."""
    parents: dict[int, int] = {}
    groups: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        # The command may hold spaces and parentheses: fields follow the last ")".
        fields = stat[stat.rindex(")") + 2 :].split()
        if fields[0] == "Z":
            continue
        pid = int(entry.name)
        parents[pid] = int(fields[1])
        groups[pid] = int(fields[2])
    members = {pid for pid, group in groups.items() if group == pgid}
    grew = True
    while grew:
        extra = {pid for pid, parent in parents.items() if parent in members} - members
        members |= extra
        grew = bool(extra)
    return sorted(members)


def alive(name: str) -> bool:
    pid = pid_of(name)
    return pid is not None and bool(group_members(pid))


def spawn(
    name: str,
    argv: Sequence[str],
    *,
    env: dict[str, str] | None = None,
    user: str | None = None,
    cwd: Path = ROOT,
) -> int:
    """Start a node in its own session (so its own process group) and record its pid."""
    logs = VAR / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    with open(logs / f"{name}.log", "ab") as out:
        proc = subprocess.Popen(
            argv,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            env=env,
            cwd=cwd,
            start_new_session=True,
            user=user,
            group=user,
            extra_groups=[] if user else None,
        )
    (VAR / f"{name}.pid").write_text(str(proc.pid))
    return proc.pid


def kill(name: str) -> None:
    """SIGKILL every process of the node, as a power cut would."""
    pid = pid_of(name)
    if pid is None:
        return
    for _ in range(50):
        members = group_members(pid)
        if not members:
            return
        for member in members:
            with contextlib.suppress(ProcessLookupError):
                os.kill(member, signal.SIGKILL)
        time.sleep(0.1)
    raise ClusterError(f"{name}: processes {group_members(pid)} survive SIGKILL")


def wait_for(what: str, check: Callable[[], bool], *, timeout: float = 90.0) -> None:
    """Poll ``check()`` until it is true, saying what is awaited."""
    deadline = time.monotonic() + timeout
    last_said = time.monotonic()
    while True:
        try:
            if check():
                return
        except Exception:
            pass
        now = time.monotonic()
        if now > deadline:
            raise ClusterError(f"timed out after {timeout:.0f} s waiting for {what}")
        if now - last_said > 10:
            log(f"still waiting for {what}…")
            last_said = now
        time.sleep(0.2)


def answers(url: str) -> bool:
    return http_status(url) == 200


def http_status(url: str, *, timeout: float = 2.0) -> int:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            return int(response.status)
    except urllib.error.HTTPError as exc:
        return exc.code


# --- PostgreSQL under pg_auto_failover -------------------------------------------------


def pg_env() -> dict[str, str]:
    base = PGVAR / "pgaf"
    return {
        "PATH": f"{PG_BIN}:/usr/bin:/bin",
        "HOME": str(base),
        "XDG_CONFIG_HOME": str(base / "config"),
        "XDG_DATA_HOME": str(base / "data"),
        "XDG_RUNTIME_DIR": str(base / "run"),
        "PGBACKREST_CONFIG": str(PGVAR / "pgbackrest" / "pgbackrest.conf"),
        "LANG": "C.UTF-8",
    }


def as_postgres(argv: Sequence[str], *, check: bool = True) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(
        argv,
        env=pg_env(),
        cwd=VAR,
        user="postgres",
        group="postgres",
        extra_groups=[],
        capture_output=True,
        text=True,
        check=False,
    )
    if check and result.returncode != 0:
        raise ClusterError(f"{' '.join(argv[:3])} failed: {result.stderr.strip()[-600:]}")
    return result


def psql(port: int, sql: str, *, db: str = DB_NAME) -> str:
    result = subprocess.run(
        ["psql", "-X", "-q", "-At", "-h", "127.0.0.1", "-p", str(port), "-U", "postgres", "-d", db]
        + ["-v", "ON_ERROR_STOP=1", "-c", sql],
        capture_output=True,
        text=True,
        check=False,
        timeout=10,
        env={**os.environ, "PGCONNECT_TIMEOUT": "2"},
    )
    if result.returncode != 0:
        raise ClusterError(f"psql :{port}: {result.stderr.strip()}")
    return result.stdout.strip()


def owned_dir(path: Path, user: str) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    entry = pwd.getpwnam(user)
    os.chown(path, entry.pw_uid, entry.pw_gid)
    return path


def monitor_url(p: dict[str, int]) -> str:
    return f"postgres://autoctl_node@127.0.0.1:{p['monitor']}/pg_auto_failover?sslmode=disable"


def write_pgbackrest_conf(p: dict[str, int]) -> None:
    conf_dir = owned_dir(PGVAR / "pgbackrest", "postgres")
    for sub in ("repo", "log", "lock", "spool"):
        owned_dir(conf_dir / sub, "postgres")
    nodes = "".join(
        f"pg{i}-path={PGVAR / name}\npg{i}-port={p[name]}\npg{i}-socket-path=/var/run/postgresql\n"
        for i, name in enumerate(DB_NODES, start=1)
    )
    (conf_dir / "pgbackrest.conf").write_text(
        "[global]\n"
        f"repo1-path={conf_dir / 'repo'}\n"
        "repo1-retention-full=2\n"
        f"log-path={conf_dir / 'log'}\n"
        f"lock-path={conf_dir / 'lock'}\n"
        f"spool-path={conf_dir / 'spool'}\n"
        "log-level-console=warn\n"
        "start-fast=y\n"
        "archive-async=n\n"
        "compress-type=lz4\n"
        f"\n[{STANZA}]\n{nodes}"
    )


def write_node_conf(data: Path) -> None:
    """Settings we add to a node's own (pg_auto_failover does replication and its HBA)."""
    conf = data / "mipaka-cluster.conf"
    conf.write_text(
        "# Written by scripts/cluster: durability, WAL archiving to pgBackRest.\n"
        "fsync = on\n"
        "full_page_writes = on\n"
        "synchronous_commit = on\n"
        "archive_mode = on\n"
        f"archive_command = 'pgbackrest --config={PGVAR / 'pgbackrest' / 'pgbackrest.conf'}"
        f" --stanza={STANZA} archive-push %p'\n"
        "archive_timeout = 60\n"
        "unix_socket_directories = '/var/run/postgresql'\n"
    )
    main = data / "postgresql.conf"
    text = main.read_text()
    if "mipaka-cluster.conf" not in text:
        main.write_text(text + "\ninclude 'mipaka-cluster.conf'\n")


def start_monitor(p: dict[str, int]) -> None:
    data = PGVAR / "monitor"
    if not (data / "PG_VERSION").exists():
        log("creating the pg_auto_failover monitor")
        owned_dir(data, "postgres").chmod(0o700)
        as_postgres(
            ["pg_autoctl", "create", "monitor", "--pgdata", str(data)]
            + ["--pgport", str(p["monitor"]), "--hostname", "127.0.0.1"]
            + ["--auth", "trust", "--no-ssl"]
        )
        as_postgres(
            ["pg_autoctl", "config", "set", "--pgdata", str(data)]
            + ["postgresql.listen_addresses", "127.0.0.1"]
        )
    if not alive("monitor"):
        spawn(
            "monitor", ["pg_autoctl", "run", "--pgdata", str(data)], env=pg_env(), user="postgres"
        )
    wait_for("the monitor", lambda: psql(p["monitor"], "select 1", db="pg_auto_failover") == "1")
    changed = False
    for name, value in MONITOR_SETTINGS.items():
        if psql(p["monitor"], f"show {name}", db="pg_auto_failover") != value:
            psql(p["monitor"], f"alter system set {name} = {value}", db="pg_auto_failover")
            changed = True
    if changed:
        psql(p["monitor"], "select pg_reload_conf()", db="pg_auto_failover")


def node_states(p: dict[str, int]) -> dict[str, tuple[str, str]]:
    """Return each database node's (reported, assigned) state, from the monitor."""
    rows = psql(
        p["monitor"],
        "select nodename, reportedstate, goalstate from pgautofailover.node",
        db="pg_auto_failover",
    )
    states = {}
    for line in rows.splitlines():
        name, reported, goal = line.split("|")
        states[name] = (reported, goal)
    return states


def create_db_node(name: str, p: dict[str, int]) -> None:
    data = PGVAR / name
    owned_dir(data, "postgres").chmod(0o700)
    if name == DB_NODES[0]:
        log(f"initialising {name} (data checksums on)")
        as_postgres(
            [str(PG_BIN / "initdb"), "-D", str(data), "--data-checksums"]
            + ["-A", "trust", "-U", "postgres", "-E", "UTF8", "--locale", "C.UTF-8"]
        )
        write_node_conf(data)
    else:
        log(f"creating {name} as a standby (base backup from the primary)")
    as_postgres(
        ["pg_autoctl", "create", "postgres", "--pgdata", str(data)]
        + ["--pgport", str(p[name]), "--hostname", "127.0.0.1", "--listen", "127.0.0.1"]
        + ["--name", name, "--dbname", DB_NAME, "--monitor", monitor_url(p)]
        + ["--auth", "trust", "--no-ssl"]
    )
    as_postgres(
        ["pg_autoctl", "config", "set", "--pgdata", str(data)]
        + ["timeout.network_partition_timeout", str(NETWORK_PARTITION_TIMEOUT_S)]
    )


def start_db_node(name: str, p: dict[str, int]) -> None:
    if not (PGVAR / name / "PG_VERSION").exists():
        create_db_node(name, p)
    if not alive(name):
        # /tmp/pg_autoctl holds the keeper's pid file; a SIGKILLed keeper leaves it stale,
        # and pg_autoctl removes stale ones itself.
        spawn(
            name,
            ["pg_autoctl", "run", "--pgdata", str(PGVAR / name)],
            env=pg_env(),
            user="postgres",
        )


def wait_db_node(name: str, p: dict[str, int]) -> None:
    wanted = {"primary", "single", "wait_primary", "secondary"}
    wait_for(
        f"{name} to be primary or secondary",
        lambda: (
            node_states(p).get(name, ("", ""))[0] in wanted
            and node_states(p)[name][0] == node_states(p)[name][1]
        ),
        timeout=180,
    )


def primary_port(p: dict[str, int]) -> int:
    for name in DB_NODES:
        with contextlib.suppress(ClusterError, subprocess.TimeoutExpired):
            if psql(p[name], "select pg_is_in_recovery()") == "f":
                return p[name]
    raise ClusterError("no database node accepts writes")


def setup_database(p: dict[str, int]) -> None:
    port = primary_port(p)
    psql(port, "create extension if not exists postgis")
    stanza = PGVAR / "pgbackrest" / "repo" / "backup" / STANZA / "backup.info"
    if not stanza.exists():
        log("pgBackRest: creating the stanza and the first full backup")
        as_postgres(["pgbackrest", f"--stanza={STANZA}", "stanza-create"])
        as_postgres(["pgbackrest", f"--stanza={STANZA}", "--type=full", "backup"])


# --- Redis and Sentinel ----------------------------------------------------------------


def redis_user() -> str | None:
    try:
        pwd.getpwnam("redis")
    except KeyError:
        return None
    return "redis"


def redis_cmd(port: int, *args: str) -> str:
    result = subprocess.run(
        ["redis-cli", "-h", "127.0.0.1", "-p", str(port), *args],
        capture_output=True,
        text=True,
        timeout=5,
        check=False,
    )
    if result.returncode != 0 or result.stdout.startswith(("Could not connect", "ERR")):
        raise ClusterError(f"redis :{port}: {(result.stdout + result.stderr).strip()}")
    return result.stdout.strip()


def sentinel_master(p: dict[str, int]) -> int | None:
    """Return the port the Sentinels name as master, or None when none answers."""
    for name in SENTINELS:
        with contextlib.suppress(ClusterError, subprocess.TimeoutExpired):
            answer = redis_cmd(p[name], "sentinel", "get-master-addr-by-name", REDIS_MASTER)
            if answer:
                return int(answer.splitlines()[1])
    return None


def start_redis_node(name: str, p: dict[str, int]) -> None:
    if alive(name):
        return
    user = redis_user()
    data = owned_dir(VAR / name, user or "root")
    master = sentinel_master(p)
    if master is None:
        master = p[REDIS_NODES[0]]
    conf = [
        "bind 127.0.0.1",
        f"port {p[name]}",
        f"dir {data}",
        "appendonly yes",
        "appendfsync everysec",
        'save ""',
        "daemonize no",
    ]
    # A node that comes back while another is master rejoins as its replica.
    if master != p[name]:
        conf.append(f"replicaof 127.0.0.1 {master}")
    path = data / "redis.conf"
    path.write_text("\n".join(conf) + "\n")
    if user:
        os.chown(path, pwd.getpwnam(user).pw_uid, pwd.getpwnam(user).pw_gid)
    spawn(name, ["redis-server", str(path)], user=user)


def start_sentinel(name: str, p: dict[str, int]) -> None:
    if alive(name):
        return
    user = redis_user()
    data = owned_dir(VAR / name, user or "root")
    path = data / "sentinel.conf"
    if not path.exists():
        # Sentinel rewrites this file with what it learns (the current master, the others).
        path.write_text(
            "bind 127.0.0.1\n"
            f"port {p[name]}\n"
            f"dir {data}\n"
            f"sentinel monitor {REDIS_MASTER} 127.0.0.1 {p[REDIS_NODES[0]]} 2\n"
            f"sentinel down-after-milliseconds {REDIS_MASTER} 1000\n"
            f"sentinel failover-timeout {REDIS_MASTER} 5000\n"
            f"sentinel parallel-syncs {REDIS_MASTER} 1\n"
        )
        if user:
            os.chown(path, pwd.getpwnam(user).pw_uid, pwd.getpwnam(user).pw_gid)
    spawn(name, ["redis-sentinel", str(path)], user=user)


# --- web, workers, load balancer -------------------------------------------------------


def node_env(name: str, p: dict[str, int]) -> dict[str, str]:
    """Return a web node's or worker's environment, with an empty metrics folder."""
    env = app_env(p, name)
    metrics = Path(env["PROMETHEUS_MULTIPROC_DIR"])
    shutil.rmtree(metrics, ignore_errors=True)  # counters of a previous run are not this one's
    metrics.mkdir(parents=True)
    return env


def start_web(name: str, p: dict[str, int]) -> None:
    if alive(name):
        return
    env = node_env(name, p)
    # config/gunicorn.conf.py: the master builds the node's index files before forking,
    # each worker loads them before it accepts, and swaps newer imports in the background.
    argv = [str(ROOT / ".venv" / "bin" / "gunicorn"), "-c", "config/gunicorn.conf.py"]
    argv += ["--bind", f"127.0.0.1:{p[name]}", "--workers", str(WEB_WORKERS)]
    argv += ["--graceful-timeout", "10"]
    spawn(name, argv, env=env)


def start_worker(name: str, p: dict[str, int]) -> None:
    if alive(name):
        return
    # Imports are batch work: on a shared host they yield the CPU to the web nodes
    # (deploy/systemd/mipaka-worker@.service: Nice=10).
    argv = ["nice", "-n10", str(ROOT / ".venv" / "bin" / "celery"), "-A", "config", "worker"]
    argv += ["-Q", "imports", "-c", "1", "-n", f"{name}@%h", "--without-mingle"]
    spawn(name, argv, env=node_env(name, p))


def write_haproxy_conf(p: dict[str, int]) -> Path:
    servers = "\n".join(
        f"    server {name} 127.0.0.1:{p[name]} check inter 1s fall 2 rise 2" for name in WEB_NODES
    )
    lb_dir = VAR / "lb"
    lb_dir.mkdir(parents=True, exist_ok=True)
    path = lb_dir / "haproxy.cfg"
    path.write_text(
        HAPROXY_TEMPLATE.format(
            port=p["lb"], servers=servers, ready=READY_PATH, socket=lb_dir / "admin.sock"
        )
    )
    return path


# Kept in step with deploy/haproxy.cfg (the real-hosts version of the same file).
HAPROXY_TEMPLATE = """\
global
    log stdout format raw local0
    maxconn 4096
    stats socket {socket} mode 600 level admin expose-fd listeners

defaults
    mode http
    log global
    log-format "%ci:%cp [%tr] %ft %b/%s %TR/%Tw/%Tc/%Tr/%Ta %ST %B %tsc %ac/%fc/%bc/%sc/%rc %{{+Q}}r id=%ID"
    option http-buffer-request
    # On a reload, a client's idle keep-alive connection is closed after one more
    # answer (with Connection: close), not at once: a request sent just then is not lost.
    option idle-close-on-response
    # The client address for the app's rate limits (MIPAKA_PROXY_COUNT=1).
    option forwardfor
    timeout connect 1s
    timeout client 30s
    timeout server 120s
    timeout http-request 10s
    timeout http-keep-alive 10s
    # A dead node: retry elsewhere (redispatch). Only idempotent requests are
    # retried after they were sent (see disable-l7-retry below).
    retries 3
    option redispatch 1
    retry-on conn-failure empty-response junk-response response-timeout

frontend web
    bind 127.0.0.1:{port}
    unique-id-format %{{+X}}o%ci%cp%fp%Ts%rt%pid
    http-request set-header X-Request-ID %[unique-id] unless {{ req.hdr(X-Request-ID) -m found }}
    acl idempotent method GET HEAD OPTIONS
    acl read_post path /api/v1/locate /api/v1/counts
    http-request disable-l7-retry if !idempotent !read_post
    default_backend web

backend web
    balance leastconn
    option httpchk GET {ready}
    http-check expect status 200
{servers}
"""


def start_lb(p: dict[str, int]) -> None:
    if alive("lb"):
        return
    conf = write_haproxy_conf(p)
    spawn("lb", ["haproxy", "-W", "-db", "-f", str(conf)])


# --- commands --------------------------------------------------------------------------


def ensure_packages() -> None:
    missing = [
        pkg
        for pkg in PACKAGES
        if "install ok installed"
        not in subprocess.run(
            ["dpkg-query", "-W", "-f=${Status}", pkg],
            capture_output=True,
            text=True,
            check=False,
        ).stdout
    ]
    if missing:
        log(f"installing {' '.join(missing)}")
        subprocess.run(["apt-get", "update", "-qq"], check=True)
        subprocess.run(
            ["apt-get", "install", "-y", "-qq", "--no-install-recommends", *missing],
            check=True,
            env={**os.environ, "DEBIAN_FRONTEND": "noninteractive"},
        )


def manage(p: dict[str, int], *args: str, capture: bool = False) -> str:
    result = subprocess.run(
        [PYTHON, "manage.py", *args],
        cwd=ROOT,
        env=app_env(p),
        check=False,
        capture_output=capture,
        text=True,
    )
    if result.returncode != 0:
        raise ClusterError(f"manage.py {' '.join(args)} failed: {(result.stderr or '')[-600:]}")
    return result.stdout or ""


def cmd_up() -> None:
    started = time.monotonic()
    if os.geteuid() != 0:
        raise ClusterError("run as root: nodes run as the postgres and redis system users")
    ensure_packages()
    VAR.mkdir(parents=True, exist_ok=True)
    p = ports()
    for sub in ("", "pgaf", "pgaf/config", "pgaf/data", "pgaf/run"):
        owned_dir(PGVAR / sub, "postgres")
    write_pgbackrest_conf(p)
    start_monitor(p)
    start_db_node("db1", p)
    wait_db_node("db1", p)
    if not (VAR / "db2" / "PG_VERSION").exists() or not alive("db2"):
        start_db_node("db2", p)
    for name in REDIS_NODES:
        start_redis_node(name, p)
    for name in SENTINELS:
        start_sentinel(name, p)
    wait_db_node("db2", p)
    setup_database(p)
    log("migrating")
    manage(p, "migrate", "--no-input", "-v", "0")
    manage(p, "collectstatic", "--no-input", "-v", "0")
    for name in WEB_NODES:
        start_web(name, p)
    for url in (f"http://127.0.0.1:{p[name]}/health" for name in WEB_NODES):
        wait_for(url, functools.partial(answers, url))
    start_lb(p)
    wait_for(
        "the load balancer",
        lambda: http_status(f"http://127.0.0.1:{p['lb']}{READY_PATH}") == 200,
    )
    for name in WORKER_NODES:
        start_worker(name, p)
    wait_for("a Redis master named by the Sentinels", lambda: sentinel_master(p) is not None)
    log(f"up in {time.monotonic() - started:.1f} s")
    print_env(p)


def print_env(p: dict[str, int]) -> None:
    env = app_env(p)
    print(f"MIPAKA_URL=http://127.0.0.1:{p['lb']}")
    for key in (
        "DATABASE_URL",
        "DATABASE_REPLICA_URL",
        "MIPAKA_REDIS_SENTINELS",
        "MIPAKA_REDIS_MASTER",
        "MIPAKA_REDIS_DB",
    ):
        print(f"{key}={env[key]}")
    print(f"MIPAKA_CLUSTER_DIR={VAR}")


def role_of(name: str, p: dict[str, int]) -> str:
    if name in DB_NODES:
        try:
            return {"f": "primary", "t": "standby"}[psql(p[name], "select pg_is_in_recovery()")]
        except (ClusterError, subprocess.TimeoutExpired):
            return "database"
    if name in REDIS_NODES:
        try:
            return {"master": "master", "slave": "replica"}.get(
                redis_cmd(p[name], "role").splitlines()[0], "redis"
            )
        except (ClusterError, subprocess.TimeoutExpired):
            return "redis"
    if name in SENTINELS:
        return "sentinel"
    if name in WEB_NODES:
        return "web"
    if name in WORKER_NODES:
        return "worker"
    return {"lb": "lb", "monitor": "monitor"}[name]


def state_of(name: str, p: dict[str, int]) -> str:
    if not alive(name):
        return "down"
    if name in DB_NODES:
        with contextlib.suppress(Exception):
            reported, goal = node_states(p)[name]
            return "up" if reported == goal else f"{reported}->{goal}"
        return "up?"
    if name in WEB_NODES or name == "lb":
        with contextlib.suppress(Exception):
            code = http_status(f"http://127.0.0.1:{p[name]}{READY_PATH}")
            return "up" if code == 200 else f"http-{code}"
        return "starting"
    return "up"


def cmd_status() -> None:
    if not (VAR / "ports.json").exists():
        raise ClusterError("no cluster here; run: scripts/cluster up")
    p = ports()
    for name in ALL_NODES:
        print(f"{name} {role_of(name, p)} {state_of(name, p)}")


def cmd_kill(name: str) -> None:
    if name not in (*ALL_NODES, "restore"):
        raise ClusterError(f"unknown node {name!r}; nodes: {' '.join(ALL_NODES)}")
    kill(name)
    log(f"{name}: killed (SIGKILL to its process group)")


def cmd_start(name: str) -> None:
    p = ports()
    if name == "monitor":
        start_monitor(p)
    elif name in DB_NODES:
        start_db_node(name, p)
        wait_db_node(name, p)
    elif name in REDIS_NODES:
        start_redis_node(name, p)
    elif name in SENTINELS:
        start_sentinel(name, p)
    elif name in WEB_NODES:
        start_web(name, p)
        wait_for(f"{name}", lambda: http_status(f"http://127.0.0.1:{p[name]}{READY_PATH}") == 200)
    elif name in WORKER_NODES:
        start_worker(name, p)
    elif name == "lb":
        start_lb(p)
    else:
        raise ClusterError(f"unknown node {name!r}; nodes: {' '.join(ALL_NODES)}")
    log(f"{name}: started")


def cmd_reload(name: str) -> None:
    """Graceful reload: HAProxy re-reads its file, gunicorn replaces its workers one by one."""
    if name == "lb":
        write_haproxy_conf(ports())
    pid = pid_of(name)
    if pid is None or not alive(name):
        raise ClusterError(f"{name} is not running")
    os.kill(pid, signal.SIGUSR2 if name == "lb" else signal.SIGHUP)


def haproxy_command(command: str) -> str:
    """Send a command to HAProxy's admin socket and return its answer."""
    with socket.socket(socket.AF_UNIX) as sock:
        sock.settimeout(5)
        sock.connect(str(VAR / "lb" / "admin.sock"))
        sock.sendall(command.encode() + b"\n")
        answer = b""
        while chunk := sock.recv(4096):
            answer += chunk
    return answer.decode().strip()


def backend_server_stat(name: str) -> dict[str, str]:
    """HAProxy's statistics of a web node (``scur`` its requests under way, ``status``)."""
    lines = haproxy_command("show stat").splitlines()
    header = lines[0].lstrip("# ").split(",")
    for line in lines[1:]:
        fields = line.split(",")
        if fields[:2] == ["web", name]:
            return dict(zip(header, fields, strict=False))
    raise ClusterError(f"HAProxy does not know {name}")


def cmd_restart(name: str) -> None:
    """Restart a web node without losing a request (one step of a rolling restart).

    HAProxy stops sending it new requests (drain) and waits for those under way;
    gunicorn then stops gracefully (SIGTERM), starts again (a release's new code),
    loads its index before it accepts, and HAProxy sends to it again.
    """
    if name not in WEB_NODES:
        raise ClusterError(f"restart is for web nodes ({' '.join(WEB_NODES)}); use kill/start")
    p = ports()
    haproxy_command(f"set server web/{name} state drain")
    wait_for(
        f"{name} to finish its requests",
        lambda: backend_server_stat(name)["scur"] == "0",
        timeout=60,
    )
    pid = pid_of(name)
    if pid is not None and alive(name):
        os.kill(pid, signal.SIGTERM)
        wait_for(f"{name} to stop", lambda: not alive(name), timeout=60)
    start_web(name, p)
    wait_for(f"{name}", lambda: http_status(f"http://127.0.0.1:{p[name]}{READY_PATH}") == 200)
    haproxy_command(f"set server web/{name} state ready")
    # Its health checks must pass again before the next node may be taken out.
    wait_for(
        f"HAProxy to send to {name} again",
        lambda: backend_server_stat(name)["status"] == "UP",
        timeout=60,
    )
    log(f"{name}: restarted")


def cmd_down() -> None:
    for name in (*ALL_NODES, "restore"):
        kill(name)
    shutil.rmtree(Path("/tmp/pg_autoctl") / str(VAR).lstrip("/"), ignore_errors=True)
    shutil.rmtree(VAR, ignore_errors=True)
    log("down: every node stopped, var/cluster deleted")


def cmd_backup() -> None:
    as_postgres(["pgbackrest", f"--stanza={STANZA}", "backup"])
    print(as_postgres(["pgbackrest", f"--stanza={STANZA}", "info"]).stdout)


def cmd_restore(target: str) -> None:
    """Restore the backups and archived WAL to ``target`` in a fresh cluster on its own port."""
    p = ports()
    port = primary_port(p)
    # A commit after the target, archived: recovery must see WAL past the target to stop at it.
    psql(port, "select txid_current()")
    as_postgres(["pgbackrest", f"--stanza={STANZA}", "check"])
    kill("restore")
    data = PGVAR / "restore"
    shutil.rmtree(data, ignore_errors=True)
    owned_dir(data, "postgres").chmod(0o700)
    log(f"restoring to {target} into {data}")
    as_postgres(
        ["pgbackrest", f"--stanza={STANZA}", f"--pg1-path={data}", "--type=time"]
        + [f"--target={target}", "--target-action=promote", "restore"]
    )
    # Not part of the formation: no archiving into the live repository, no standby to wait for.
    settings = {
        "port": str(p["restore"]),
        "listen_addresses": "127.0.0.1",
        "archive_mode": "off",
        "synchronous_standby_names": "",
        "primary_conninfo": "",
        "primary_slot_name": "",
    }
    argv = [str(PG_BIN / "postgres"), "-D", str(data)]
    for key, value in settings.items():
        argv += ["-c", f"{key}={value}"]
    spawn("restore", argv, env=pg_env(), user="postgres")
    wait_for(
        "the restored cluster to finish recovery",
        lambda: psql(p["restore"], "select pg_is_in_recovery()") == "f",
        timeout=300,
    )
    url = f"postgis://postgres@127.0.0.1:{p['restore']}/{DB_NAME}"
    print(f"RESTORE_URL={url}")
    print("Compare with the live cluster (boundaries, aliases, import history):")
    print("  scripts/cluster digest")
    print(f"  scripts/cluster digest {url}")


DIGEST_QUERIES = {
    "boundaries": "select count(*), md5(coalesce(string_agg(osm_id || '|' || name || '|' || "
    "level || '|' || coalesce(parent_id::text, '') || '|' || md5(st_asbinary(geometry)), ',' "
    "order by osm_id), '')) from geo_boundary",
    "aliases": "select count(*), md5(coalesce(string_agg(workspace_id || '|' || boundary_id || "
    "'|' || name, ',' order by workspace_id, boundary_id, name), '')) from geo_boundaryalias",
    "imports": "select count(*), md5(coalesce(string_agg(id || '|' || status, ',' order by id), "
    "'')) from geo_importrun",
    "history": "select count(*), md5(coalesce(string_agg(id || '|' || kind || '|' || osm_id, ',' "
    "order by id), '')) from geo_boundarychange",
    "versions": "select count(*), md5(coalesce(string_agg(id || '|' || boundary_id || '|' || "
    "osm_id || '|' || path, ',' order by id), '')) from geo_boundaryversion",
}


def digest(url: str) -> dict[str, str]:
    import psycopg

    out = {}
    with psycopg.connect(url.replace("postgis://", "postgresql://", 1)) as conn:
        for name, sql in DIGEST_QUERIES.items():
            row = conn.execute(sql).fetchone()
            assert row is not None
            out[name] = f"{row[0]} {row[1]}"
    return out


def cmd_digest(url: str | None) -> None:
    for name, value in digest(url or database_url(ports())).items():
        print(f"{name} {value}")


def main(argv: list[str]) -> int:
    commands = {
        "up": (0, lambda _a: cmd_up()),
        "status": (0, lambda _a: cmd_status()),
        "kill": (1, lambda a: cmd_kill(a[0])),
        "start": (1, lambda a: cmd_start(a[0])),
        "reload": (1, lambda a: cmd_reload(a[0])),
        "restart": (1, lambda a: cmd_restart(a[0])),
        "down": (0, lambda _a: cmd_down()),
        "backup": (0, lambda _a: cmd_backup()),
        "restore": (1, lambda a: cmd_restore(a[0])),
        "env": (0, lambda _a: print_env(ports())),
    }
    if not argv or argv[0] in {"-h", "--help"}:
        print(__doc__)
        return 0 if argv else 2
    command, args = argv[0], argv[1:]
    try:
        if command == "manage":
            manage(ports(), *args)
            return 0
        if command == "digest":
            cmd_digest(args[0] if args else None)
            return 0
        if command == "drill":
            return subprocess.call(
                [PYTHON, "-m", "pytest", "tests/drills", "-m", "drill", *args], cwd=ROOT
            )
        if command not in commands or len(args) != commands[command][0]:
            print(
                f"usage: scripts/cluster {' | '.join([*commands, 'manage ARGS', 'digest [URL]', 'drill'])}",
                file=sys.stderr,
            )
            return 2
        commands[command][1](args)
    except ClusterError as exc:
        print(f"cluster: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
