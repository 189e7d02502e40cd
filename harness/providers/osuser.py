"""Running servers as an unprivileged user when the runner is root.

A server harness starts as root runs as a dedicated system user (``harness``,
created on first use), with that user's own group and no supplementary groups:
whatever a client manages to make the server do (PostgreSQL's ``COPY ... TO
PROGRAM``, say), it does with no rights beyond its own throwaway directories.
Installations that user cannot reach (a wheel under /root or a 0700 .tox) are
mirrored once to /var/cache/harness, world-readable, never loosened in place.
"""

from __future__ import annotations

import hashlib
import os
import pwd
import shutil
import stat
import subprocess
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from harness.errors import ServiceUnavailable

__all__ = [
    "DEFAULT_USER",
    "MIRROR_ROOT",
    "ServerUser",
    "chown_top",
    "chown_tree",
    "mirror_for_user",
    "readable_by",
    "runnable_binary",
    "server_user",
]

DEFAULT_USER = "harness"
MIRROR_ROOT = Path("/var/cache/harness")


@dataclass(frozen=True)
class ServerUser:
    """The account a server runs as: its name, uid, and its own primary group."""

    name: str
    uid: int
    gid: int

    def popen_arguments(self) -> dict[str, Any]:
        """``subprocess.Popen`` arguments that switch to this user, its group, and no supplementary groups."""
        return {"user": self.uid, "group": self.gid, "extra_groups": []}

    def own(self, path: Path, *, recursive: bool = False) -> None:
        """Give ``path`` (with ``recursive``, everything under it too) to this user and its group."""
        if recursive:
            chown_tree(path, self)
        else:
            chown_top(path, self)

    def can_run(self, path: Path) -> bool:
        """Whether this user can reach and execute ``path`` (every ancestor searchable by others)."""
        return readable_by(path)

    def runnable(self, binary: Path) -> Path:
        """``binary``, or a world-executable copy of it when this user cannot reach it."""
        return runnable_binary(binary, self)

    def mirror(self, root: Path, *, parts: Sequence[str] = (), siblings: Sequence[Path] = ()) -> Path:
        """A world-readable copy of the installation ``root`` (see :func:`mirror_for_user`)."""
        return mirror_for_user(root, parts=parts, siblings=siblings)


def _lookup(name: str) -> ServerUser | None:
    try:
        entry = pwd.getpwnam(name)
    except KeyError:
        return None
    return ServerUser(name=name, uid=entry.pw_uid, gid=entry.pw_gid)


def server_user(explicit: str | None, *, setting: str = "HARNESS_OS_USER") -> ServerUser | None:
    """The user to run a server as: ``None`` when not root, else an unprivileged user (created if needed)."""
    if os.geteuid() != 0:
        return None
    if explicit is not None:
        found = _lookup(explicit)
        if found is None:
            raise ServiceUnavailable(
                f"{setting}={explicit!r}: no such user on this machine; create it "
                f"(useradd --system --user-group {explicit}) or unset {setting}."
            )
        if found.uid == 0:
            raise ServiceUnavailable(
                f"{setting}={explicit!r} is root; servers must run as an unprivileged user. "
                f"Name another user or unset {setting}."
            )
        return found
    found = _lookup(DEFAULT_USER)
    if found is not None:
        return found
    useradd = shutil.which("useradd")
    if useradd is None:
        raise ServiceUnavailable(
            "Running as root, harness runs servers as an unprivileged user and none exists; create one "
            f"(e.g. 'adduser --system --group {DEFAULT_USER}') or set {setting} to an existing one."
        )
    result = subprocess.run(
        [useradd, "--system", "--user-group", "--no-create-home", "--shell", "/usr/sbin/nologin", DEFAULT_USER],
        capture_output=True, text=True, check=False,
    )
    found = _lookup(DEFAULT_USER)  # another process may have created it first
    if found is None:
        raise ServiceUnavailable(
            f"Could not create the unprivileged user {DEFAULT_USER!r} ({result.stderr.strip()}); create it "
            f"yourself or set {setting} to an existing unprivileged user."
        )
    return found


def chown_top(path: Path, user: ServerUser) -> None:
    """Give ``path`` itself (not its contents) to ``user`` and its group."""
    os.chown(path, user.uid, user.gid)


def chown_tree(path: Path, user: ServerUser) -> None:
    """Give ``path`` and everything under it to ``user`` (skipped when it already owns the top)."""
    if path.stat().st_uid == user.uid:
        return
    os.chown(path, user.uid, user.gid)
    for root, dirs, files in os.walk(path):
        for name in dirs + files:
            os.chown(os.path.join(root, name), user.uid, user.gid, follow_symlinks=False)


def readable_by(path: Path) -> bool:
    """Whether any user can reach and execute ``path`` (every ancestor world-searchable)."""
    resolved = path.resolve()
    if not resolved.exists() or not resolved.stat().st_mode & stat.S_IXOTH:
        return False
    return all(parent.stat().st_mode & stat.S_IXOTH for parent in resolved.parents)


def runnable_binary(binary: Path, user: ServerUser | None) -> Path:
    """``binary``, or a world-executable copy of it when ``user`` cannot reach it (a self-contained binary)."""
    if user is None or readable_by(binary):
        return binary
    return mirror_for_user(binary.parent, parts=[binary.name]) / binary.name


def _fingerprint(root: Path, parts: Sequence[str], siblings: Sequence[Path]) -> str:
    # The path and the modification times: a reinstalled wheel gets a fresh mirror.
    digest = hashlib.sha256(str(root.resolve()).encode())
    for path in (root, *(root / part for part in parts), *siblings):
        try:
            digest.update(f"{path}:{path.stat().st_mtime_ns}".encode())
        except OSError:
            digest.update(f"{path}:absent".encode())
    return digest.hexdigest()[:12]


def mirror_for_user(root: Path, *, parts: Sequence[str] = (), siblings: Sequence[Path] = ()) -> Path:
    """A world-readable copy of the installation ``root`` (only ``parts`` of it, if given), made once.

    ``siblings`` are copied next to it under their own names, keeping the layout a
    binary's RPATH may rely on (a wheel's ``<package>.libs``). Returns the copy of ``root``.
    """
    mirror = MIRROR_ROOT / f"{root.name}-{_fingerprint(root, parts, siblings)}"
    mirrored_root = mirror / root.name
    if (mirror / ".complete").is_file():
        return mirrored_root
    MIRROR_ROOT.mkdir(parents=True, exist_ok=True)
    os.chmod(MIRROR_ROOT, 0o755)
    staging = Path(tempfile.mkdtemp(prefix=mirror.name + ".", dir=MIRROR_ROOT))
    try:
        if parts:
            for part in parts:
                source, target = root / part, staging / root.name / part
                if source.is_dir():
                    shutil.copytree(source, target, symlinks=True)
                elif source.exists():
                    target.parent.mkdir(parents=True, exist_ok=True)
                    shutil.copy2(source, target)
        else:
            shutil.copytree(root, staging / root.name, symlinks=True)
        for sibling in siblings:
            if sibling.is_dir():
                shutil.copytree(sibling, staging / sibling.name, symlinks=True)
        for path in (staging, *staging.rglob("*")):
            if path.is_symlink():
                continue
            mode = path.stat().st_mode
            # Readable by all; executable by all where the owner could execute (and every directory).
            extra = stat.S_IRGRP | stat.S_IROTH
            if path.is_dir() or mode & stat.S_IXUSR:
                extra |= stat.S_IXGRP | stat.S_IXOTH
            os.chmod(path, (mode | extra) & ~(stat.S_IWGRP | stat.S_IWOTH))
        (staging / ".complete").write_text("")
        os.replace(staging, mirror)
    except OSError:
        shutil.rmtree(staging, ignore_errors=True)
        if not (mirror / ".complete").is_file():  # another process may have won the race
            raise
    return mirrored_root
