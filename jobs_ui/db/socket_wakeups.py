"""SQLite's ``NOTIFY``: datagrams to UNIX sockets in a folder beside the database file.

A listening worker binds a socket in ``<database>.jobs_ui-wakeups``; a process that
committed a job sends its note to each socket there.
"""

from __future__ import annotations

import contextlib
import logging
import os
import secrets
import socket
import threading
from collections.abc import Iterable
from typing import Any

from jobs_ui.db.write_turns import database_file

logger = logging.getLogger(__name__)

# SQLite has no way to tell another process that a row was committed. The processes
# that share a SQLite file run on one machine (SQLite's locks are not to be trusted over
# a network file system, and WAL mode needs shared memory), so UNIX datagram sockets
# reach every one of them. A note is what PostgreSQL's NOTIFY carries: "queue id" or "queue".
SUFFIX = ".jobs_ui-wakeups"
# A socket's file name: "<pid>-<8 hex digits>.sock".
SOCKET_SUFFIX = ".sock"
# The longest socket path that binds everywhere (sun_path holds 104 bytes on macOS, with its NUL).
MAX_PATH_BYTES = 103
# The longest datagram read: a queue name (at most 100 characters, UTF-8) and a job id.
MAX_NOTE_BYTES = 1024

_sender: tuple[int, socket.socket] | None = None
_sender_lock = threading.Lock()


def folder(connection: Any) -> str | None:
    """The folder of this SQLite connection's listening sockets; None when there can be none."""
    # No folder (an in-memory database, no AF_UNIX, a socket path too long for the
    # platform): nobody listens, and nothing is sent.
    if connection.vendor != "sqlite" or not hasattr(socket, "AF_UNIX"):
        return None
    name = database_file(connection)
    if name is None:
        return None
    path = name + SUFFIX
    longest = os.path.join(path, f"{'9' * 10}-{'f' * 8}{SOCKET_SUFFIX}")
    if len(os.fsencode(longest)) > MAX_PATH_BYTES:
        logger.debug("No wake-ups for %s: its sockets' paths would be too long", name)
        return None
    return path


def send(connection: Any, notes: Iterable[str]) -> int:
    """Send each of ``notes`` to every socket listening beside this connection's database; how many were sent."""
    # Sending never waits and never fails.
    path = folder(connection)
    if path is None:
        return 0
    try:
        targets = [entry.path for entry in os.scandir(path) if entry.name.endswith(SOCKET_SUFFIX)]
    except FileNotFoundError:
        # No worker has listened on this database yet.
        return 0
    except OSError:
        logger.debug("Could not list the wake-up sockets in %s", path, exc_info=True)
        return 0
    if not targets:
        return 0
    payloads = [note.encode() for note in notes]
    sender = _sender_socket()
    sent = 0
    for target in targets:
        for payload in payloads:
            try:
                sender.sendto(payload, target)
            except (ConnectionRefusedError, FileNotFoundError):
                # Bound by a process that is gone: nothing reads it any more.
                with contextlib.suppress(OSError):
                    os.unlink(target)
                break
            except BlockingIOError:
                # Its queue is full (net.unix.max_dgram_qlen): that worker has notes enough
                # to look, or is busy and finds the job at its next poll or through its message.
                break
            except OSError:
                logger.debug("Could not send a wake-up to %s", target, exc_info=True)
                break
            sent += 1
    return sent


def _sender_socket() -> socket.socket:
    # One unbound socket per process (threads may share it; a forked child makes its own).
    global _sender
    with _sender_lock:
        if _sender is None or _sender[0] != os.getpid():
            sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
            sock.setblocking(False)
            _sender = (os.getpid(), sock)
        return _sender[1]


class Inbox:
    """A bound socket in the wake-ups folder that receives notes; removed by ``close()``."""

    def __init__(self, path: str) -> None:
        os.makedirs(path, exist_ok=True)
        self.path = os.path.join(path, f"{os.getpid()}-{secrets.token_hex(4)}{SOCKET_SUFFIX}")
        self._socket = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        try:
            self._socket.bind(self.path)
            self._inode = os.stat(self.path).st_ino
        except OSError:
            self._socket.close()
            raise

    def reachable(self) -> bool:
        """Whether senders still find this socket (its file may have been removed by hand)."""
        try:
            return os.stat(self.path).st_ino == self._inode
        except OSError:
            return False

    def receive(self, timeout: float) -> str | None:
        """The next note, waiting up to ``timeout`` seconds; None when none came."""
        self._socket.settimeout(timeout)
        try:
            data = self._socket.recv(MAX_NOTE_BYTES)
        except TimeoutError:
            return None
        return data.decode(errors="replace")

    def interrupt(self) -> None:
        """End a ``receive()`` waiting in another thread, with an empty note."""
        with contextlib.suppress(OSError):
            _sender_socket().sendto(b"", self.path)

    def close(self) -> None:
        self._socket.close()
        with contextlib.suppress(OSError):
            os.unlink(self.path)
