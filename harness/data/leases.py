"""Redis logical databases as namespaces: each test class leases one; owners, heartbeat, sweeping.

A class (or the ``redis_client`` fixture) leases one logical database with
:func:`open_lease`. On a server harness did not start, the lease's value names its
owner (:mod:`harness.data.owners`), it expires after :data:`EXPIRY_SECONDS` unless the
heartbeat renews it, and ``harness:used:<n>`` marks a database holding harness's keys.
:func:`sweep_leases` (run the first time a process leases on that server, and by
``harness down``) empties the databases of owners that are provably gone.
"""

from __future__ import annotations

import contextlib
import os
from typing import Any

from harness.data.owners import EXPIRY_SECONDS, current_owner, heartbeat, marker, owner_from_marker
from harness.errors import NamespaceUnavailable, UsageError
from harness.providers.rundir import current_run
from harness.services.base import Endpoint
from harness.services.redis import database_url, redis_py

__all__ = [
    "DatabaseLease",
    "LEASE_PREFIX",
    "RELEASE",
    "TAKE_OVER",
    "USED_PREFIX",
    "close_lease",
    "lease_owner",
    "open_lease",
    "sweep",
    "sweep_leases",
]

SWEEP_HOLD_SECONDS = 60
LEASE_PREFIX = "harness:lease:"
USED_PREFIX = "harness:used:"
LEASE_SECONDS = 3600
DEFAULT_DATABASES = 16  # Redis's own default, assumed when an external server will not say
RELEASE = "if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) end return 0"
# Replace a lease held by ARGV[1] with one held by ARGV[2] for ARGV[3] seconds, atomically.
TAKE_OVER = (
    "if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('set', KEYS[1], ARGV[2], 'EX', ARGV[3]) end "
    "return false"
)
_RENEW = "if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('expire', KEYS[1], ARGV[2]) end return 0"

_swept: set[str] = set()


def lease_owner(label: str) -> str:
    """The value of a lease: harness's owner marker, plus the worker, the process and ``label`` (e.g. the class)."""
    run = current_run()
    return marker(current_owner(run), worker=run.worker, pid=os.getpid(), holder=label)


def open_lease(endpoint: Endpoint, label: str) -> DatabaseLease:
    """Lease a database of ``endpoint`` for ``label``; on a shared server, with a heartbeat that keeps it."""
    shared = not endpoint.owned
    if shared and endpoint.url not in _swept:
        _swept.add(endpoint.url)
        sweep_leases(endpoint)
    lease = DatabaseLease(endpoint, owner=lease_owner(label), ttl=EXPIRY_SECONDS if shared else LEASE_SECONDS)
    lease.acquire()
    if shared:
        heartbeat.add(_beat_key(lease), lease.renew)
    return lease


def close_lease(lease: DatabaseLease) -> None:
    """Empty the leased database and give it back; safe twice."""
    heartbeat.remove(_beat_key(lease))
    lease.release()


def _beat_key(lease: DatabaseLease) -> str:
    return f"redis lease {id(lease)}"


def sweep_leases(endpoint: Endpoint) -> list[int]:
    """Empty and free the databases of ``endpoint`` whose owners are provably gone; return their numbers.

    A lease of a dead owner on this machine is taken over (atomically, so no live owner can
    be caught in between) and its database emptied. A lease of an owner elsewhere is its
    heartbeat: it expires by itself, and what it held is then a database marked as used by
    harness with no lease on it, which is taken, emptied and freed the same way. A database
    without harness's mark is never touched.
    """
    redis = redis_py()
    me = current_owner()
    sweeper = lease_owner("sweep")
    emptied = []
    with redis.Redis.from_url(endpoint.url, decode_responses=True) as control:
        for key in list(control.scan_iter(match=f"{LEASE_PREFIX}*", count=1000)):
            holder = control.get(key)
            found = owner_from_marker(holder)
            if found is None or found[0] == me or not found[0].local or not found[0].provably_dead(None):
                continue
            if control.eval(TAKE_OVER, 1, key, holder, sweeper, SWEEP_HOLD_SECONDS):
                emptied.append(_empty(control, endpoint, int(key[len(LEASE_PREFIX):]), sweeper))
        for key in list(control.scan_iter(match=f"{USED_PREFIX}*", count=1000)):
            number = int(key[len(USED_PREFIX):])
            if owner_from_marker(control.get(key)) is None:
                continue
            if control.set(f"{LEASE_PREFIX}{number}", sweeper, nx=True, ex=SWEEP_HOLD_SECONDS):
                emptied.append(_empty(control, endpoint, number, sweeper))
    return sorted(set(emptied))


def _empty(control: Any, endpoint: Endpoint, number: int, holder: str) -> int:
    with redis_py().Redis.from_url(database_url(endpoint.url, number)) as database:
        database.flushdb()
    control.delete(f"{USED_PREFIX}{number}")
    control.eval(RELEASE, 1, f"{LEASE_PREFIX}{number}", holder)
    return number


class DatabaseLease:
    """One logical database of a Redis server, held by one owner until released.

    The lease is a key in database 0 (``harness:lease:<n>``, set only if absent,
    expiring after an hour unless renewed), so it works the same across test
    classes, xdist workers and runs on other machines sharing the server. On a
    server harness did not start, a database that already holds keys is used
    only if harness has used it before (``harness:used:<n>``); anyone else's
    data is never flushed.

    >>> lease = DatabaseLease(endpoint, owner="TestCache@run-1")   # doctest: +SKIP
    >>> lease.acquire()                                             # doctest: +SKIP
    1
    >>> mask_url(lease.url)                                         # doctest: +SKIP
    'redis://:***@127.0.0.1:6390/1'
    """

    def __init__(self, endpoint: Endpoint, *, owner: str, ttl: int = LEASE_SECONDS) -> None:
        self.endpoint = endpoint
        self.owner = owner
        self.ttl = ttl
        self.database: int | None = None
        self._control: Any = None

    @property
    def url(self) -> str:
        if self.database is None:
            raise UsageError(
                "This DatabaseLease holds no database: call acquire() first (it was never acquired, or was released)."
            )
        return database_url(self.endpoint.url, self.database)

    def _client(self) -> Any:
        if self._control is None:
            self._control = redis_py().Redis.from_url(self.endpoint.url, decode_responses=True)
        return self._control

    def _database_count(self) -> int:
        known = self.endpoint.details.get("databases")
        if known is not None:
            return int(known)
        redis = redis_py()
        try:
            reply = self._client().config_get("databases")
        except redis.ResponseError:  # CONFIG is often disabled on managed servers
            return DEFAULT_DATABASES
        return int(reply.get("databases", DEFAULT_DATABASES))

    def acquire(self) -> int:
        """Lease the first free database (emptied for its new owner) and return its number."""
        if self.database is not None:
            raise UsageError(f"This DatabaseLease already holds database {self.database}; release() it first.")
        control = self._client()
        count = self._database_count()
        foreign = []
        for number in range(1, count):
            if not control.set(f"{LEASE_PREFIX}{number}", self.owner, nx=True, ex=self.ttl):
                continue
            try:
                if not self.endpoint.owned and not control.exists(f"{USED_PREFIX}{number}"):
                    with redis_py().Redis.from_url(database_url(self.endpoint.url, number)) as probe:
                        occupied = probe.dbsize() > 0
                    if occupied:  # someone else's data: never ours to flush
                        control.eval(RELEASE, 1, f"{LEASE_PREFIX}{number}", self.owner)
                        foreign.append(number)
                        continue
                    control.set(f"{USED_PREFIX}{number}", self.owner)  # "harness data here": emptied if orphaned
                self.database = number
                self.flush()  # what a killed run left behind
            except BaseException:
                # Give the database back now rather than let the lease block it for an hour.
                self.database = None
                with contextlib.suppress(redis_py().RedisError):
                    control.eval(RELEASE, 1, f"{LEASE_PREFIX}{number}", self.owner)
                self.close()
                raise
            return number
        self.close()
        raise NamespaceUnavailable(
            f"Every logical database of Redis at {self.endpoint.address} is taken: {count - 1} usable "
            f"(database 0 holds harness's leases)"
            + (f", of which {foreign} hold data harness did not write" if foreign else "")
            + ". Each test class running at the same time needs one. Run fewer classes at once (fewer xdist "
            "workers), or give the server more databases (`databases` in redis.conf; for a server harness "
            "starts, HARNESS_REDIS_DATABASES)."
        )

    def flush(self) -> None:
        """Empty the leased database."""
        with redis_py().Redis.from_url(self.url) as client:
            client.flushdb()

    def renew(self) -> None:
        """Push the lease's expiry back (a long class keeps its database); fail if the lease was lost."""
        if self.database is None:
            raise UsageError(
                "This DatabaseLease holds no database: call acquire() first (it was never acquired, or was released)."
            )
        if not self._client().eval(_RENEW, 1, f"{LEASE_PREFIX}{self.database}", self.owner, self.ttl):
            lost = self.database
            self.database = None  # never flush it again: it may be someone else's now
            raise NamespaceUnavailable(
                f"The lease on Redis database {lost} at {self.endpoint.address} lapsed (held by {self.owner!r}, "
                f"expiring {self.ttl} s after the last test started) and is no longer this class's; its tests "
                "stop here rather than touch what may now be another owner's data."
            )

    def release(self) -> None:
        """Empty the database and give it back; safe twice."""
        if self.database is not None:
            key = f"{LEASE_PREFIX}{self.database}"
            try:
                if self._client().get(key) == self.owner:  # a lapsed lease's database is someone else's now
                    self.flush()
                    self._client().delete(f"{USED_PREFIX}{self.database}")  # empty again: nothing of harness's
                    self._client().eval(RELEASE, 1, key, self.owner)
            finally:
                self.database = None
        self.close()

    def close(self) -> None:
        if self._control is not None:
            self._control.close()
            self._control = None


def sweep(endpoint: Endpoint) -> list[str]:
    """``harness down``: empty the databases finished runs left on ``endpoint``; describe each."""
    return [f"database {number} (emptied)" for number in sweep_leases(endpoint)]
