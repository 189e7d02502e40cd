"""A loopback proxy in front of Tansu that lets consumer groups with the clients' default settings form in ~1 s.

Tansu holds every JoinGroup until half the group's session timeout has passed
(re-running the join each second, so that other members can come in): with the
45 s that kafka-python, the Java client and librdkafka ask for by default, a new
consumer gets its first message after ~23 s, and a ``close()`` meanwhile waits
behind the held join. Tansu has no setting for it, and its newer builds do the
same. So the broker harness starts sits behind this proxy, which passes every
byte through except:

- a JoinGroup asking for a session timeout above ``session_timeout_ms`` (2 s) asks
  for that instead: Tansu then holds it for 1 s, as for harness's own clients;
- Tansu now evicts such a member once it has been silent for 2 s, while a
  default client heartbeats every 3 s: so the proxy heartbeats for it, on a
  connection of its own, every half second, for as long as the member would
  live on a Kafka broker: until its *own* session timeout has passed since it
  last joined, synced or heartbeated, or until it leaves the group. Crashed
  members are still evicted (after their own timeout), heartbeating ones are not.

The local Kafka launch runs this file as a script (standard library only, no
``site``: the broker answers through it ~40 ms after it starts, ~10 ms alone): it
binds the public port, drops to the servers' unprivileged user, starts the broker
on a private loopback port as its child (killed if the proxy dies), and serves
until the broker exits. :class:`GroupProxy` is usable alone:

>>> proxy = GroupProxy(("127.0.0.1", 0), broker=("127.0.0.1", 9092)).start()   # doctest: +SKIP
>>> proxy.address, proxy.close()                                                # doctest: +SKIP
"""

from __future__ import annotations

import os
import socket
import struct
import subprocess
import sys
import threading
import time
from collections.abc import Callable

__all__ = ["GroupProxy", "main"]

JOIN_GROUP, HEARTBEAT, LEAVE_GROUP, SYNC_GROUP = 11, 12, 13, 14
FLEXIBLE_FROM = {JOIN_GROUP: 6, HEARTBEAT: 4, LEAVE_GROUP: 4, SYNC_GROUP: 4}
"""The first version of each request whose header and strings use the compact ("flexible") encoding."""
LARGEST_GROUP_REQUEST = 1 << 20  # a bigger frame is passed through unread
UNKNOWN_MEMBER_ID = 25
KEEPALIVE_CLIENT_ID = "harness-group-keepalive"
CHUNK = 1 << 16


class _Reader:
    """Fields of one request frame (after its length), in Kafka's encodings."""

    def __init__(self, data: bytes | bytearray, flexible: bool) -> None:
        self.data, self.offset, self.flexible = data, 0, flexible

    def fixed(self, fmt: str) -> int:
        (value,) = struct.unpack_from(fmt, self.data, self.offset)
        self.offset += struct.calcsize(fmt)
        return int(value)

    def varint(self) -> int:
        value = shift = 0
        while True:
            byte = self.data[self.offset]
            self.offset += 1
            value |= (byte & 0x7F) << shift
            if byte < 0x80:
                return value
            shift += 7

    def string(self, *, compact: bool | None = None) -> str | None:
        length = self.varint() - 1 if (self.flexible if compact is None else compact) else self.fixed(">h")
        if length < 0:
            return None
        text = bytes(self.data[self.offset : self.offset + length]).decode("utf-8", errors="replace")
        self.offset += length
        return text

    def skip_header(self) -> None:
        """Past the request header: api key, version, correlation id, client id (a plain string in every
        header version) and, in the flexible versions, tagged fields."""
        self.offset += 8
        self.string(compact=False)
        if self.flexible:
            self.skip_tags()

    def skip_tags(self) -> None:
        for _ in range(self.varint()):
            self.varint()
            self.offset += self.varint()


class _Member:
    """A group member whose session timeout the proxy shortened, and so keeps alive on its behalf."""

    __slots__ = ("generation", "heard", "instance", "session", "touched")

    def __init__(self, session: float, instance: str | None) -> None:
        self.session, self.instance, self.generation = session, instance, -1  # session: what the client asked
        # heard: when the client last joined, synced or heartbeated; touched: when the broker last heard of it
        self.heard = self.touched = time.monotonic()


class _Members:
    """The members the proxy heartbeats for, by (group, member id)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._members: dict[tuple[str, str], _Member] = {}

    def joined(self, group: str, member: str, instance: str | None, session_ms: int) -> None:
        with self._lock:
            known = self._members.get((group, member))
            if known is None:
                self._members[(group, member)] = _Member(session_ms / 1000, instance)
            else:
                known.session, known.instance = session_ms / 1000, instance
                known.heard = known.touched = time.monotonic()

    def heard(self, group: str, member: str, generation: int) -> None:
        with self._lock:
            known = self._members.get((group, member))
            if known is not None:
                known.generation = generation
                known.heard = known.touched = time.monotonic()

    def left(self, group: str, members: list[str]) -> None:
        with self._lock:
            for member in members:
                self._members.pop((group, member), None)

    def due(self, interval: float) -> list[tuple[str, str, int, str | None]]:
        """(group, member, generation, instance) of each member not heard of for ``interval`` seconds; the
        members whose own session timeout has run out since the client last spoke are dropped instead."""
        now = time.monotonic()
        with self._lock:
            for key in [key for key, member in self._members.items() if now - member.heard > member.session]:
                del self._members[key]
            due = [(key, member) for key, member in self._members.items() if now - member.touched >= interval]
            for _, member in due:
                member.touched = now
            return [(group, member_id, member.generation, member.instance) for (group, member_id), member in due]


class GroupProxy:
    """Listen on ``listen`` (loopback), pass each connection through to ``broker``, shorten long group sessions.

    ``start()`` returns self; ``close()`` (safe twice) stops accepting, closes every
    connection and joins every thread it started.
    """

    def __init__(self, listen: tuple[str, int] | socket.socket, *, broker: tuple[str, int],
                 session_timeout_ms: int = 2000) -> None:
        self._listener = listen if isinstance(listen, socket.socket) else socket.create_server(listen)
        self.address: tuple[str, int] = self._listener.getsockname()[:2]
        self.broker = broker
        self.session_timeout_ms = session_timeout_ms
        self.members = _Members()
        self._closed = threading.Event()
        self._lock = threading.Lock()
        self._sockets: set[socket.socket] = set()
        self._threads: list[threading.Thread] = []

    def start(self) -> GroupProxy:
        self._spawn(self._accept, "accept")
        self._spawn(self._keep_alive, "keepalive")
        return self

    def __enter__(self) -> GroupProxy:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def close(self) -> None:
        self._closed.set()
        _shut(self._listener)
        while True:  # a connection being set up may still add a socket or a thread: until none is left
            with self._lock:
                sockets, threads = list(self._sockets), [thread for thread in self._threads if thread.is_alive()]
            for sock in sockets:
                _shut(sock)
            if not threads:
                return
            for thread in threads:
                thread.join()

    # -- threads --------------------------------------------------------------------------------

    def _spawn(self, target: Callable[..., None], name: str, *args: socket.socket) -> None:
        thread = threading.Thread(target=target, args=args, name=f"kafka-proxy-{name}", daemon=True)
        with self._lock:
            self._threads = [known for known in self._threads if known.is_alive()]
            self._threads.append(thread)
        thread.start()

    def _track(self, sock: socket.socket) -> socket.socket:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)  # each request is its own small write
        with self._lock:
            self._sockets.add(sock)
        if self._closed.is_set():
            _shut(sock)
        return sock

    def _forget(self, *sockets: socket.socket) -> None:
        with self._lock:
            self._sockets.difference_update(sockets)
        for sock in sockets:
            _shut(sock)

    def _accept(self) -> None:
        while not self._closed.is_set():
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            self._spawn(self._connect, "connect", self._track(client))

    def _connect(self, client: socket.socket) -> None:
        try:
            broker = self._track(socket.create_connection(self.broker, timeout=10))
        except OSError:
            self._forget(client)  # the client sees the broker's own refusal: a closed connection
            return
        broker.settimeout(None)
        self._spawn(self._pump_answers, "answers", broker, client)
        self._pump_requests(client, broker)

    def _pump_answers(self, broker: socket.socket, client: socket.socket) -> None:
        try:
            while data := broker.recv(CHUNK):
                client.sendall(data)
        except OSError:
            pass
        self._forget(broker, client)

    def _pump_requests(self, client: socket.socket, broker: socket.socket) -> None:
        """Forward whole frames; read (and maybe rewrite) only the group requests, pass the rest as it comes."""
        pending = bytearray()
        passing = 0  # bytes of the current frame still to forward unread
        try:
            while data := client.recv(CHUNK):
                pending += data
                out = bytearray()
                while pending:
                    if passing:
                        taken = min(passing, len(pending))
                        out += pending[:taken]
                        del pending[:taken]
                        passing -= taken
                        continue
                    if len(pending) < 6:
                        break
                    size, api_key = struct.unpack_from(">ih", pending)
                    if api_key in FLEXIBLE_FROM and 2 <= size <= LARGEST_GROUP_REQUEST:
                        if len(pending) < 4 + size:
                            break
                        frame = pending[4 : 4 + size]
                        self._inspect(frame)
                        out += pending[:4] + frame
                        del pending[: 4 + size]
                    else:
                        passing = 4 + max(size, 0)
                if out:
                    broker.sendall(out)
        except OSError:
            pass
        self._forget(client, broker)

    # -- what the proxy reads -------------------------------------------------------------------

    def _inspect(self, frame: bytearray) -> None:
        """Note the group request in ``frame``; shorten a JoinGroup's session timeout in place."""
        api_key, version = struct.unpack_from(">hh", frame)
        reader = _Reader(frame, flexible=version >= FLEXIBLE_FROM[api_key])
        try:
            reader.skip_header()
            group = reader.string() or ""
            if api_key == JOIN_GROUP:
                session_at = reader.offset
                session = reader.fixed(">i")
                if version >= 1:
                    reader.fixed(">i")  # rebalance timeout
                member = reader.string() or ""
                instance = reader.string() if version >= 5 else None
                if session > self.session_timeout_ms:
                    struct.pack_into(">i", frame, session_at, self.session_timeout_ms)
                    if member:  # a first join has no id yet: the broker names it and the client joins again
                        self.members.joined(group, member, instance, session)
            elif api_key == LEAVE_GROUP:
                if version < 3:
                    self.members.left(group, [reader.string() or ""])
                else:
                    count = reader.varint() - 1 if reader.flexible else reader.fixed(">i")
                    leaving = []
                    for _ in range(max(count, 0)):
                        leaving.append(reader.string() or "")
                        reader.string()  # group instance id
                        if version >= 5:
                            reader.string()  # reason
                        if reader.flexible:
                            reader.skip_tags()
                    self.members.left(group, leaving)
            else:  # Heartbeat, SyncGroup: the member is alive, in this generation
                generation = reader.fixed(">i")
                self.members.heard(group, reader.string() or "", generation)
        except (struct.error, IndexError):
            pass  # not what the version says: the broker will answer it as it sees fit

    def _keep_alive(self) -> None:
        """Heartbeat, every half of a quarter session, for each member not heard of for a quarter session."""
        interval = self.session_timeout_ms / 4000
        broker: socket.socket | None = None
        sent: dict[int, tuple[str, str]] = {}
        correlation = 0
        while not self._closed.wait(interval / 2):
            due = self.members.due(interval)
            if not due:
                continue
            try:
                if broker is None:
                    broker = self._track(socket.create_connection(self.broker, timeout=5))
                    broker.settimeout(None)  # close() shuts it down, which ends a wait for an answer
                    sent.clear()
                for group, member, generation, instance in due:
                    correlation += 1
                    sent[correlation] = (group, member)
                    broker.sendall(_heartbeat(correlation, group, generation, member, instance))
                for _ in due:
                    answer, error = _read_answer(broker)
                    group, member = sent.pop(answer, ("", ""))
                    if error == UNKNOWN_MEMBER_ID:  # evicted: the client will find out and join anew
                        self.members.left(group, [member])
            except (OSError, struct.error):  # a new connection next time
                if broker is not None:
                    self._forget(broker)
                broker = None
        if broker is not None:
            self._forget(broker)


def _heartbeat(correlation: int, group: str, generation: int, member: str, instance: str | None) -> bytes:
    """A Heartbeat v3 request (the last version before the compact encoding; it carries the instance id)."""

    def string(text: str | None) -> bytes:
        if text is None:
            return struct.pack(">h", -1)
        encoded = text.encode()
        return struct.pack(">h", len(encoded)) + encoded

    body = struct.pack(">hhi", HEARTBEAT, 3, correlation) + string(KEEPALIVE_CLIENT_ID) + string(group)
    body += struct.pack(">i", generation) + string(member) + string(instance)
    return struct.pack(">i", len(body)) + body


def _read_answer(sock: socket.socket) -> tuple[int, int]:
    """(correlation id, error code) of the next Heartbeat v3 answer on ``sock`` (a blocking socket)."""
    size = struct.unpack(">i", sock.recv(4, socket.MSG_WAITALL))[0]
    correlation, _throttle, error = struct.unpack(">iih", sock.recv(size, socket.MSG_WAITALL)[:10])
    return correlation, error


def _shut(sock: socket.socket) -> None:
    try:
        sock.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass
    sock.close()


# -- the launch: run as a script by the local Kafka service -----------------------------------


def _parent_death_signal() -> Callable[[], None] | None:
    """What the broker's child process calls to be killed when the proxy dies, however it dies (Linux only).

    Looked up before the proxy drops its privileges: the server user may not read this Python's library.
    """
    try:
        import ctypes

        prctl = ctypes.CDLL(None, use_errno=True).prctl
    except (OSError, AttributeError):
        return None
    return lambda: prctl(1, 9)  # PR_SET_PDEATHSIG, SIGKILL


def _options(argv: list[str]) -> tuple[dict[str, str], list[str]]:
    """``--name value`` pairs before ``--``, and the broker's command after it (argparse costs ~10 ms to import)."""
    split = argv.index("--") if "--" in argv else len(argv)
    options = dict(zip(argv[:split:2], argv[1:split:2], strict=False))
    known = {"--listen", "--broker", "--session-timeout-ms", "--user"}
    if split % 2 or split + 1 >= len(argv) or not {"--listen", "--broker"} <= options.keys() <= known:
        raise SystemExit("usage: kafka_proxy.py --listen HOST:PORT --broker HOST:PORT [--session-timeout-ms MS] "
                         "[--user UID:GID] -- BROKER COMMAND...")
    return options, argv[split + 1 :]


def _address(text: str) -> tuple[str, int]:
    host, _, port = text.rpartition(":")
    return host, int(port)


def main(argv: list[str] | None = None) -> int:
    """Bind the public port, drop to the server user, start the broker, proxy until the broker exits."""
    options, command = _options(sys.argv[1:] if argv is None else argv)
    listen = _address(options["--listen"])
    try:
        listener = socket.create_server(listen)
    except OSError as exc:  # "Address already in use" tells the local provider to try another port
        print(f"kafka proxy: cannot listen on {listen[0]}:{listen[1]}: {exc.strerror}", flush=True)
        return 1
    die_with_proxy = _parent_death_signal()
    import encodings.idna  # noqa: F401  (getaddrinfo's, loaded while this Python's library is still readable)

    if "--user" in options:
        uid, gid = (int(part) for part in options["--user"].split(":"))
        os.setgroups([])
        os.setgid(gid)
        os.setuid(uid)
    broker = subprocess.Popen(command, stdin=subprocess.DEVNULL, preexec_fn=die_with_proxy)
    session_timeout_ms = int(options.get("--session-timeout-ms", "2000"))
    proxy = GroupProxy(listener, broker=_address(options["--broker"]), session_timeout_ms=session_timeout_ms)
    proxy.start()
    code = broker.wait()
    print(f"kafka proxy: the broker exited with code {code}", flush=True)
    proxy.close()
    return code


if __name__ == "__main__":
    sys.exit(main())
