"""A PostgreSQL cluster's files: the cached template, trimmed and listed once, and each run's copy of it.

The copy was most of a cold start (``cp -a``: ~70 of ~125 ms), and its cost is per file and
per byte, so:

- the template is trimmed once, after initdb, of what a cleanly stopped cluster does
  not need: the free space and visibility map forks (``<relfilenode>_fsm``, ``_vm``:
  PostgreSQL treats a missing one as empty and creates it when it first needs it, as
  for any new table) and the WAL segments other than the ones holding the last
  checkpoint (the others are old or preallocated ones; new ones are made as needed);
- its listing (every directory, every file and its size) is written next to it, so a
  run copies from the list instead of walking the tree;
- each file is copied in the kernel (``sendfile``), created 0600 in directories made
  0700 (PostgreSQL refuses anything looser) and given to the server's user as it is
  made, instead of in a second walk.
"""

from __future__ import annotations

import errno
import json
import os
import re
import shutil
import subprocess
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from harness.errors import ServiceUnavailable

__all__ = ["LISTING", "Damaged", "Listing", "NoSpace", "copy_cluster", "copy_listed", "listing_of", "trim_cluster"]

LISTING = "manifest.json"
SPARE_BYTES = 64 << 20  # room for the WAL and the tables tests create, on top of the copied cluster
# A relation's free space map or visibility map fork, in any of its 1 GB segments.
_MAP_FORK = re.compile(r"\d+_(fsm|vm)(\.\d+)?")
_WAL_SEGMENT = re.compile(r"[0-9A-F]{24}")
# Beyond the checkpoint record's start, how much WAL may hold the rest of it (it is ~100 bytes).
_CHECKPOINT_RECORD_BYTES = 8192
_CREATE = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0)
_READ = os.O_RDONLY | getattr(os, "O_CLOEXEC", 0)
# sendfile(2) cannot copy between these files here (not Linux, an unusual filesystem): read and write.
_NO_SENDFILE = {errno.EINVAL, errno.ENOSYS, errno.ENOTSOCK, errno.EOPNOTSUPP}
_FULL = {errno.ENOSPC, errno.EDQUOT}


class NoSpace(OSError):
    """The copy ran out of room (the partial copy is removed)."""


class Damaged(OSError):
    """The template does not hold what its listing says (a file is missing or shorter)."""


@dataclass(frozen=True)
class Listing:
    """Every directory (parents first) and file (with its size) of a cluster, relative to it."""

    directories: tuple[str, ...]
    files: dict[str, int]

    @property
    def size(self) -> int:
        return sum(self.files.values())

    @classmethod
    def walk(cls, cluster: Path) -> Listing:
        """What ``cluster`` holds now (a walk: done once, when the cluster is cached)."""
        directories, files = [], {}
        for root, dirs, names in os.walk(cluster):
            relative = os.path.relpath(root, cluster)
            directories += [os.path.normpath(os.path.join(relative, name)) for name in sorted(dirs)]
            for name in sorted(names):
                files[os.path.normpath(os.path.join(relative, name))] = os.lstat(os.path.join(root, name)).st_size
        return cls(tuple(directories), files)

    def save(self, path: Path) -> None:
        path.write_text(json.dumps({"directories": list(self.directories), "files": self.files}))


def listing_of(cluster: Path) -> Listing:
    """What ``cluster`` holds: the listing saved next to it, or a walk when that is missing or unreadable."""
    try:
        recorded = json.loads((cluster.parent / LISTING).read_text())
        directories, files = recorded["directories"], recorded["files"]
        if isinstance(directories, list) and isinstance(files, dict):
            return Listing(tuple(directories), files)
    except (OSError, ValueError, TypeError, KeyError):
        pass
    return Listing.walk(cluster)


# -- trimming the template ---------------------------------------------------------------------


def trim_cluster(cluster: Path, bin_dir: Path) -> None:
    """Delete from the stopped ``cluster`` what it does not need to start (see the module's docstring).

    The WAL is trimmed only when ``pg_controldata`` says the cluster was shut down cleanly
    and where its last checkpoint is; otherwise every segment is kept.
    """
    for root, _dirs, names in os.walk(cluster):
        for name in names:
            if _MAP_FORK.fullmatch(name):
                os.unlink(os.path.join(root, name))
    needed = _checkpoint_segments(cluster, bin_dir)
    wal = cluster / "pg_wal"
    if not needed or not (wal / needed[0]).is_file():
        return
    for entry in os.scandir(wal):
        if _WAL_SEGMENT.fullmatch(entry.name) and entry.name not in needed:
            os.unlink(entry.path)


def _checkpoint_segments(cluster: Path, bin_dir: Path) -> list[str] | None:
    """The WAL segments that may hold the last checkpoint of a cleanly stopped ``cluster``, its REDO segment first.

    None when unsure (not cleanly stopped, pg_controldata missing or saying something else).
    """
    try:
        result = subprocess.run(
            [str(bin_dir / "pg_controldata"), "-D", str(cluster)],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
            env={**os.environ, "LC_ALL": "C"},  # untranslated field names
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    lines = (line.partition(":") for line in result.stdout.splitlines())
    fields = {key.strip(): value.strip() for key, _, value in lines}
    try:
        if result.returncode != 0 or fields["Database cluster state"] != "shut down":
            return None
        segment_bytes = int(fields["Bytes per WAL segment"])
        timeline = int(fields["Latest checkpoint's TimeLineID"])
        redo = _lsn(fields["Latest checkpoint's REDO location"])
        checkpoint_end = _lsn(fields["Latest checkpoint location"]) + _CHECKPOINT_RECORD_BYTES
        names = [
            _segment_name(timeline, number, segment_bytes)
            for number in range(redo // segment_bytes, checkpoint_end // segment_bytes + 1)
        ]
        # The same name as the server's, or the parsing went wrong: keep everything.
        if not names or names[0] != fields["Latest checkpoint's REDO WAL file"]:
            return None
    except (KeyError, ValueError, ZeroDivisionError):
        return None
    return names


def _lsn(text: str) -> int:
    high, low = text.split("/")
    return (int(high, 16) << 32) | int(low, 16)


def _segment_name(timeline: int, number: int, segment_bytes: int) -> str:
    per_id = 0x100000000 // segment_bytes
    return f"{timeline:08X}{number // per_id:08X}{number % per_id:08X}"


# -- each run's copy ---------------------------------------------------------------------------


def copy_listed(source: Path, target: Path, listing: Listing, *, owner: tuple[int, int] | None = None) -> None:
    """Copy what ``listing`` names from ``source`` to the new directory ``target``, for one server.

    Directories are made 0700 and files 0600, owned by ``owner`` (uid, gid) when given.
    Raises :class:`NoSpace` when the room runs out and :class:`Damaged` when ``source`` does
    not hold what ``listing`` says; either way nothing is left at ``target``.
    """
    try:
        os.mkdir(target, 0o700)
    except OSError as exc:
        raise _no_space(exc, target) from None
    try:
        # A umask that takes the owner's own rights would leave files PostgreSQL cannot use.
        exact = os.stat(target).st_mode & 0o777 != 0o700
        _settle(str(target), owner, exact)
        for directory in listing.directories:
            path = os.path.join(target, directory)
            os.mkdir(path, 0o700)
            _settle(path, owner, exact)
        copier = _Copier(owner, exact)
        for name, size in listing.files.items():
            copier.copy(os.path.join(source, name), os.path.join(target, name), size, name)
    except BaseException as exc:
        shutil.rmtree(target, ignore_errors=True)
        if isinstance(exc, OSError):
            raise _no_space(exc, target) from None
        raise


def _no_space(exc: OSError, target: Path) -> OSError:
    if exc.errno in _FULL:
        return NoSpace(exc.errno, f"No space left to copy the cluster to {target}")
    return exc


def _settle(directory: str, owner: tuple[int, int] | None, exact: bool) -> None:
    if exact:
        os.chmod(directory, 0o700)
    if owner is not None:
        os.chown(directory, *owner)


class _Copier:
    def __init__(self, owner: tuple[int, int] | None, exact: bool) -> None:
        self.owner = owner
        self.exact = exact
        self.sendfile = hasattr(os, "sendfile")

    def copy(self, source: str, target: str, size: int, name: str) -> None:
        if size == 0:  # an empty relation: made, with nothing to read (the template's own is not needed)
            os.close(self._create(target))
            return
        try:
            reader = os.open(source, _READ)
        except FileNotFoundError:
            raise Damaged(errno.ENOENT, f"{name} is missing") from None
        try:
            writer = self._create(target)
            try:
                copied = 0
                while copied < size:
                    sent = self._chunk(reader, writer, copied, size - copied)
                    if sent == 0:
                        raise Damaged(errno.EIO, f"{name} is {copied} bytes instead of {size}")
                    copied += sent
            finally:
                os.close(writer)
        finally:
            os.close(reader)

    def _create(self, target: str) -> int:
        writer = os.open(target, _CREATE, 0o600)
        try:
            if self.exact:
                os.fchmod(writer, 0o600)
            if self.owner is not None:
                os.fchown(writer, *self.owner)
        except BaseException:
            os.close(writer)
            raise
        return writer

    def _chunk(self, reader: int, writer: int, offset: int, count: int) -> int:
        """Copy up to ``count`` bytes from ``offset``: in the kernel where sendfile works here, else read and write."""
        if self.sendfile:
            try:
                return os.sendfile(writer, reader, offset, count)
            except OSError as exc:
                if exc.errno not in _NO_SENDFILE:
                    raise
                self.sendfile = False
        return os.write(writer, os.pread(reader, min(count, 1 << 20), offset))


def copy_cluster(
    template: Path, workdir: Path, *, spill: Callable[[], Path], owner: tuple[int, int] | None = None
) -> Path:
    """Copy ``template`` for one server: into ``workdir``, or the temp dir when the scratch dir is too full.

    Raises :class:`Damaged` when the template lacks a file its listing names.
    """
    listing = listing_of(template)
    size = listing.size
    needed = size + SPARE_BYTES
    places = [workdir]
    tried: list[str] = []
    while places:
        place = places.pop(0)
        free = shutil.disk_usage(place).free
        if free >= needed:
            try:
                copy_listed(template, place / "data", listing, owner=owner)
                return place / "data"
            except NoSpace:
                free = shutil.disk_usage(place).free
        tried.append(f"{place} has {free >> 20} MB free")
        if place == workdir:
            spill_base = Path(tempfile.gettempdir())
            if os.stat(spill_base).st_dev != os.stat(workdir).st_dev:
                places.append(spill())
    raise ServiceUnavailable(
        f"A PostgreSQL data directory needs about {needed >> 20} MB ({size >> 20} MB of cluster and "
        f"{SPARE_BYTES >> 20} MB for what tests write), but {' and '.join(tried)}. Free some space, or set "
        "HARNESS_SCRATCH_DIR to a directory with room (it holds every server's work directory)."
    )
