"""Socket and thread checks for tests/http."""

import socket
import threading


def closed_port():
    """A port on 127.0.0.1 that nothing listens on (bound, read, released)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def refuses(port):
    """Whether a TCP connection to ``port`` on 127.0.0.1 is refused."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.settimeout(2)
        try:
            sock.connect(("127.0.0.1", port))
        except ConnectionRefusedError:
            return True
    return False


def thread_names():
    return sorted(thread.name for thread in threading.enumerate())
