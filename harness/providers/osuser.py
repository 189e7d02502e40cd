"""Running a server as an unprivileged user when the runner is root (PostgreSQL refuses root)."""

from __future__ import annotations

import os
import pwd
import shutil
import stat
import subprocess
from pathlib import Path

from harness.errors import ServiceUnavailable

__all__ = ["DEFAULT_USERS", "chown_top", "chown_tree", "os_user_for_server", "readable_by"]

# Tried in order when running as root: Debian's own PostgreSQL user, then one of ours.
DEFAULT_USERS = ("postgres", "harness")


def _exists(name: str) -> bool:
    try:
        pwd.getpwnam(name)
    except KeyError:
        return False
    return True


def os_user_for_server(explicit: str | None) -> str | None:
    """The user to run a server as: ``None`` when not root, else an unprivileged user (created if needed)."""
    if os.geteuid() != 0:
        return None
    if explicit is not None:
        if not _exists(explicit):
            raise ServiceUnavailable(
                f"postgres_os_user={explicit!r} does not exist on this machine; "
                f"create it (useradd --system {explicit}) or unset HARNESS_POSTGRES_OS_USER."
            )
        return explicit
    for name in DEFAULT_USERS:
        if _exists(name):
            return name
    name = DEFAULT_USERS[-1]
    useradd = shutil.which("useradd")
    if useradd is None:
        raise ServiceUnavailable(
            "Running as root, PostgreSQL needs an unprivileged user and none exists; "
            f"create one (e.g. 'adduser --system {name}') and set HARNESS_POSTGRES_OS_USER={name}."
        )
    result = subprocess.run(
        [useradd, "--system", "--no-create-home", "--shell", "/usr/sbin/nologin", name],
        capture_output=True, text=True, check=False,
    )
    if result.returncode != 0 and not _exists(name):
        raise ServiceUnavailable(f"Could not create the unprivileged user {name!r}: {result.stderr.strip()}")
    return name


def chown_top(path: Path, user: str) -> None:
    """Give ``path`` itself (not its contents) to ``user``."""
    entry = pwd.getpwnam(user)
    os.chown(path, entry.pw_uid, entry.pw_gid)


def chown_tree(path: Path, user: str) -> None:
    """Give ``path`` and everything under it to ``user`` (skipped when it already owns the top)."""
    entry = pwd.getpwnam(user)
    if path.stat().st_uid == entry.pw_uid:
        return
    os.chown(path, entry.pw_uid, entry.pw_gid)
    for root, dirs, files in os.walk(path):
        for name in dirs + files:
            os.chown(os.path.join(root, name), entry.pw_uid, entry.pw_gid, follow_symlinks=False)


def readable_by(path: Path) -> bool:
    """Whether any user can reach and execute ``path`` (every ancestor world-searchable)."""
    resolved = path.resolve()
    if not resolved.exists() or not resolved.stat().st_mode & stat.S_IXOTH:
        return False
    return all(parent.stat().st_mode & stat.S_IXOTH for parent in resolved.parents)
