"""A TCP echo server with a password, written for harness's tests (standard library only).

``python -m harness_echo.server --port N --password-file F [--instance ID] [--greeting TEXT]``

A client first sends ``AUTH <password>\\n``: the right password gets ``+OK\\n``, anything
else ``-DENIED\\n`` and a closed connection. After that every line comes back as it was
sent, except ``INFO\\n``, answered ``+INFO <instance> <greeting>\\n`` (how a probe tells
this server from another one on the same port). It listens on 127.0.0.1 only; the
password is read from a file, never from the command line.

This module imports nothing outside the standard library, so any Python 3 can run it.
"""

from __future__ import annotations

import argparse
import asyncio
import hmac
import sys
from collections.abc import Sequence

__all__ = ["main", "serve"]

LOOPBACK = "127.0.0.1"
MAX_LINE = 64 * 1024


def _reply_for(line: bytes, instance: str, greeting: str) -> bytes:
    if line.rstrip(b"\r\n") == b"INFO":
        return f"+INFO {instance} {greeting}\n".encode()
    return line if line.endswith(b"\n") else line + b"\n"


async def _session(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter, *, password: bytes, instance: str, greeting: str
) -> None:
    try:
        first = await reader.readline()
        offered = first[len(b"AUTH "):].rstrip(b"\r\n") if first.startswith(b"AUTH ") else b""
        if not offered or not hmac.compare_digest(offered, password):
            writer.write(b"-DENIED\n")
            await writer.drain()
            return
        writer.write(b"+OK\n")
        await writer.drain()
        while line := await reader.readline():
            writer.write(_reply_for(line, instance, greeting))
            await writer.drain()
    except (ConnectionError, ValueError):  # a client gone mid-line, or a line past MAX_LINE
        pass
    finally:
        writer.close()


async def serve(*, host: str, port: int, password: bytes, instance: str, greeting: str) -> None:
    """Serve until the process is stopped."""

    async def session(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await _session(reader, writer, password=password, instance=instance, greeting=greeting)

    server = await asyncio.start_server(session, host, port, limit=MAX_LINE, reuse_address=False)
    print(f"echo server {instance} listening on {host}:{port}", flush=True)
    async with server:
        await server.serve_forever()


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m harness_echo.server", description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--password-file", required=True, help="a file holding the password (first line)")
    parser.add_argument("--instance", default="-", help="an identifier INFO answers with")
    parser.add_argument("--greeting", default="hello", help="the text INFO answers with after the instance")
    parser.add_argument(
        "--listen-all", action="store_true",
        help="listen on every interface: only inside a container, whose port is published on the host's loopback",
    )
    args = parser.parse_args(argv)
    with open(args.password_file, "rb") as handle:
        password = handle.readline().rstrip(b"\r\n")
    if not password:
        print(f"echo server: {args.password_file} holds no password", file=sys.stderr, flush=True)
        return 2
    host = "0.0.0.0" if args.listen_all else LOOPBACK
    try:
        asyncio.run(serve(host=host, port=args.port, password=password, instance=args.instance,
                          greeting=args.greeting))
    except OSError as exc:  # e.g. "address already in use": said in the log, which the provider reads
        print(f"echo server: cannot listen on {host}:{args.port}: {exc}", file=sys.stderr, flush=True)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
