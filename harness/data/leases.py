"""Redis databases for test classes: who holds each lease, its heartbeat, and emptying what dead runs left.

A class (or the ``redis_client`` fixture) leases one logical database with
:func:`open_lease`. On a server harness did not start, the lease's value names its
owner (:mod:`harness.data.owners`), it expires after :data:`EXPIRY_SECONDS` unless the
heartbeat renews it, and ``harness:used:<n>`` marks a database holding harness's keys.
:func:`sweep_leases` (run the first time a process leases on that server, and by
``harness down``) empties the databases of owners that are provably gone.
"""

from __future__ import annotations

import os
from typing import Any

from harness.data.owners import EXPIRY_SECONDS, current_owner, heartbeat, marker, owner_from_marker
from harness.providers.rundir import current_run
from harness.services.base import Endpoint
from harness.services.redis import (
    LEASE_PREFIX,
    LEASE_SECONDS,
    RELEASE,
    TAKE_OVER,
    USED_PREFIX,
    DatabaseLease,
    database_url,
    redis_py,
)

__all__ = ["close_lease", "lease_owner", "open_lease", "sweep_leases"]

SWEEP_HOLD_SECONDS = 60

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
