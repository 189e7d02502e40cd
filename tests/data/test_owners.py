"""Owners of state on shared servers: who they are, when they are provably gone, and their heartbeat."""

import json
import logging
import subprocess
import sys
import threading
import time

from harness.data.owners import (
    EXPIRY_SECONDS,
    Heartbeat,
    Owner,
    current_owner,
    marker,
    owner_from_marker,
    owner_from_token,
)
from harness.providers.rundir import current_run, host_id, process_start_time


def dead_local_owner():
    """The identity of a process of this machine that has exited."""
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(0.3)"])
    started = process_start_time(child.pid)
    child.wait()
    return Owner(host=host_id(), pid=child.pid, started=started)


def test_the_owner_token_round_trips_through_names_and_markers():
    me = current_owner()
    assert me.token == current_run().token
    assert owner_from_token(f"harness.{me.token}.gw1.t3.orders") == me
    owner, record = owner_from_marker(marker(me, heartbeat=12))
    assert owner == me and record["heartbeat"] == 12
    for foreign in (None, "", "the billing team's", json.dumps({"owner": me.token}), json.dumps({"harness": 1}),
                    json.dumps({"harness": 1, "owner": "h0p0"})):
        assert owner_from_marker(foreign) is None


def test_an_owner_here_is_dead_when_its_process_is_gone_whatever_the_heartbeat():
    assert not current_owner().provably_dead(None)
    assert not current_owner().provably_dead(10 * EXPIRY_SECONDS)  # alive: its pid answers
    gone = dead_local_owner()
    assert gone.local and gone.provably_dead(None)
    reused = Owner(host=host_id(), pid=current_owner().pid, started="1")  # the pid, but another start time
    assert reused.provably_dead(None)


def test_an_owner_elsewhere_is_dead_only_once_its_heartbeat_expired():
    elsewhere = Owner(host="0000ffff", pid=current_owner().pid, started=current_owner().started)
    assert not elsewhere.local
    assert not elsewhere.provably_dead(None)  # never beat: nothing proves it is gone
    assert not elsewhere.provably_dead(EXPIRY_SECONDS - 1)
    assert elsewhere.provably_dead(EXPIRY_SECONDS + 1)


def test_the_heartbeat_beats_every_interval_survives_a_failing_beat_and_stops(caplog):
    beats = []
    beat = Heartbeat(interval=0.05)
    beat.add("counts", lambda: beats.append(time.monotonic()))

    def broken():
        raise ConnectionError("the server is down")

    beat.add("broken", broken)
    with caplog.at_level(logging.WARNING, logger="harness"):
        time.sleep(0.4)
    beat.stop()
    count = len(beats)
    assert count >= 3
    assert "harness: heartbeat broken failed: the server is down" in caplog.text
    time.sleep(0.15)
    assert len(beats) == count, "no beat after stop()"
    assert not [thread for thread in threading.enumerate() if thread.name == "harness-heartbeat" and thread.is_alive()
                and thread is beat._thread]
