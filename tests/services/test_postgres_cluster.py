import errno
import os
import pwd
import stat

import pytest

from harness.services import postgres_cluster
from harness.services.postgres_cluster import (
    LISTING,
    Damaged,
    Listing,
    copy_listed,
    listing_of,
    trim_cluster,
)

FILES = {
    "PG_VERSION": b"15\n",
    "global/pg_control": os.urandom(8192),
    "base/1/1259": os.urandom(3 * 8192),
    "base/1/2619": b"",  # an empty relation: made, nothing to copy
}
EMPTY_DIRECTORIES = ("pg_tblspc", "pg_wal/archive_status")


def _cluster(root):
    cluster = root / "cluster"
    for name, content in FILES.items():
        (cluster / name).parent.mkdir(parents=True, exist_ok=True)
        (cluster / name).write_bytes(content)
    for name in EMPTY_DIRECTORIES:
        (cluster / name).mkdir(parents=True)
    return cluster


def _tree(root):
    return {path.relative_to(root).as_posix(): path for path in sorted(root.rglob("*"))}


def test_the_listing_names_every_directory_before_what_is_in_it_and_every_file_with_its_size(tmp_path):
    listing = Listing.walk(_cluster(tmp_path))
    assert listing.files == {name: len(content) for name, content in FILES.items()}
    assert set(listing.directories) == {"base", "base/1", "global", "pg_tblspc", "pg_wal", "pg_wal/archive_status"}
    assert listing.directories.index("pg_wal") < listing.directories.index("pg_wal/archive_status")
    assert listing.size == sum(len(content) for content in FILES.values())


def test_a_saved_listing_is_read_back_and_a_missing_or_broken_one_is_walked_again(tmp_path):
    cluster = _cluster(tmp_path)
    walked = Listing.walk(cluster)
    assert listing_of(cluster) == walked  # nothing saved: walked
    walked.save(tmp_path / LISTING)
    (cluster / "extra").write_bytes(b"x")  # read from the listing, not the tree
    assert listing_of(cluster) == walked
    (tmp_path / LISTING).write_text('{"directories": 3}')
    assert listing_of(cluster).files["extra"] == 1


def test_a_copy_holds_the_same_files_in_0700_directories_as_0600_files(tmp_path):
    cluster = _cluster(tmp_path)
    target = tmp_path / "run" / "data"
    target.parent.mkdir()
    copy_listed(cluster, target, Listing.walk(cluster))
    copied = _tree(target)
    assert set(copied) == set(_tree(cluster))
    for name, path in copied.items():
        mode = stat.S_IMODE(path.stat().st_mode)
        if path.is_dir():
            assert mode == 0o700, name
        else:
            assert mode == 0o600 and path.read_bytes() == FILES[name], name


def test_a_umask_that_takes_the_owners_rights_does_not_reach_the_copy(tmp_path):
    cluster = _cluster(tmp_path)
    previous = os.umask(0o277)
    try:
        copy_listed(cluster, tmp_path / "data", Listing.walk(cluster))
    finally:
        os.umask(previous)
    modes = {stat.S_IMODE(path.stat().st_mode) for path in (tmp_path / "data").rglob("*")}
    assert modes == {0o700, 0o600}


def test_the_copy_belongs_to_the_given_owner_as_it_is_made(tmp_path):
    if os.geteuid() != 0:
        pytest.skip("only root can give files to another user")
    server = pwd.getpwnam("harness") if _has_user("harness") else pwd.getpwnam("nobody")
    cluster = _cluster(tmp_path)
    copy_listed(cluster, tmp_path / "data", Listing.walk(cluster), owner=(server.pw_uid, server.pw_gid))
    owners = {(path.stat().st_uid, path.stat().st_gid) for path in [tmp_path / "data", *(tmp_path / "data").rglob("*")]}
    assert owners == {(server.pw_uid, server.pw_gid)}


def _has_user(name):
    try:
        pwd.getpwnam(name)
    except KeyError:
        return False
    return True


@pytest.mark.parametrize(
    ("damage", "said"),
    [("delete", "base/1/1259 is missing"), ("shorten", "base/1/1259 is 8192 bytes instead of 24576")],
)
def test_a_template_that_lacks_what_its_listing_says_is_damaged_and_nothing_is_left(tmp_path, damage, said):
    cluster = _cluster(tmp_path)
    listing = Listing.walk(cluster)
    if damage == "delete":
        (cluster / "base/1/1259").unlink()
    else:
        (cluster / "base/1/1259").write_bytes(FILES["base/1/1259"][:8192])
    with pytest.raises(Damaged) as raised:
        copy_listed(cluster, tmp_path / "data", listing)
    assert raised.value.strerror == said
    assert not (tmp_path / "data").exists()


def test_where_sendfile_does_not_work_the_files_are_read_and_written(tmp_path, monkeypatch):
    calls = []

    def no_sendfile(*arguments):
        calls.append(arguments)
        raise OSError(errno.ENOTSOCK, "Socket operation on non-socket")

    monkeypatch.setattr(os, "sendfile", no_sendfile)
    cluster = _cluster(tmp_path)
    copy_listed(cluster, tmp_path / "data", Listing.walk(cluster))
    assert {name: path.read_bytes() for name, path in _tree(tmp_path / "data").items() if path.is_file()} == FILES
    assert len(calls) == 1  # found out once, not once per file


def test_an_existing_target_is_refused_and_left_alone(tmp_path):
    cluster = _cluster(tmp_path)
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "keep").write_text("mine")
    with pytest.raises(FileExistsError):
        copy_listed(cluster, tmp_path / "data", Listing.walk(cluster))
    assert (tmp_path / "data" / "keep").read_text() == "mine"


# -- trimming ---------------------------------------------------------------------------------------

CONTROLDATA = """\
pg_control version number:            1300
Database cluster state:               {state}
Latest checkpoint location:           {checkpoint}
Latest checkpoint's REDO location:    {checkpoint}
Latest checkpoint's REDO WAL file:    {redo_file}
Latest checkpoint's TimeLineID:       1
Bytes per WAL segment:                1048576
"""
SEGMENTS = [f"0000000100000000000000{number:02X}" for number in range(6, 11)]


def _initdb_result(tmp_path, *, state="shut down", checkpoint="0/6010F8", redo_file=SEGMENTS[0], controldata=True):
    """A cluster as initdb leaves it (map forks, five WAL segments), and a pg_controldata that describes it."""
    cluster = _cluster(tmp_path)
    for name in ("base/1/1259_fsm", "base/1/1259_vm", "global/1262_fsm", "base/1/1259_init", "base/1/1259.1"):
        (cluster / name).write_bytes(b"\0" * 8192)
    for name in SEGMENTS:
        (cluster / "pg_wal" / name).write_bytes(b"\0" * 16)
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    if controldata:
        output = CONTROLDATA.format(state=state, checkpoint=checkpoint, redo_file=redo_file)
        (bin_dir / "pg_controldata").write_text(f"#!/bin/sh\ncat <<'EOF'\n{output}EOF\n")
        (bin_dir / "pg_controldata").chmod(0o755)
    return cluster, bin_dir


def _left(cluster):
    return sorted(path.relative_to(cluster).as_posix() for path in cluster.rglob("*") if path.is_file())


def _wal_left(cluster):
    return sorted(path.name for path in (cluster / "pg_wal").iterdir() if path.is_file())


def test_trimming_keeps_no_map_fork_and_only_the_checkpoints_wal_segment(tmp_path):
    cluster, bin_dir = _initdb_result(tmp_path)
    trim_cluster(cluster, bin_dir)
    assert _left(cluster) == sorted([*FILES, "base/1/1259_init", "base/1/1259.1", f"pg_wal/{SEGMENTS[0]}"])
    assert (cluster / "pg_wal" / "archive_status").is_dir()


def test_a_checkpoint_at_the_end_of_a_segment_keeps_the_next_one_too(tmp_path):
    cluster, bin_dir = _initdb_result(tmp_path, checkpoint="0/6FFFC0")
    trim_cluster(cluster, bin_dir)
    assert _wal_left(cluster) == SEGMENTS[:2]


@pytest.mark.parametrize(
    "unsure",
    [
        {"state": "in production"},  # not stopped cleanly: recovery may need any of it
        {"redo_file": SEGMENTS[1]},  # pg_controldata and harness disagree on the name
        {"checkpoint": "not an LSN"},
        {"controldata": False},
        {"checkpoint": "0/C010F8", "redo_file": "00000001000000000000000C"},  # its segment is not there
    ],
)
def test_when_unsure_of_the_checkpoint_every_wal_segment_is_kept(tmp_path, unsure):
    cluster, bin_dir = _initdb_result(tmp_path, **unsure)
    trim_cluster(cluster, bin_dir)
    assert _wal_left(cluster) == SEGMENTS
    assert not list(cluster.rglob("*_fsm")) and not list(cluster.rglob("*_vm"))


def test_segment_names_follow_the_servers_rule():
    assert postgres_cluster._segment_name(1, 6, 1 << 20) == "000000010000000000000006"
    assert postgres_cluster._segment_name(3, 0x1234, 1 << 20) == "000000030000000100000234"
    assert postgres_cluster._segment_name(1, 0x1FF, 16 << 20) == "0000000100000001000000FF"
