"""A private network namespace that has only `lo`, for tests whose traffic must stay on loopback.

Linux moves only the calling thread with `unshare(CLONE_NEWNET)`; every process it starts afterwards
(a `tandem serve`, Node and Chromium) inherits the namespace, and so do the sockets that thread opens
(an aiortc peer on the test's event loop). `setns` brings the thread back. Needs CAP_SYS_ADMIN (root,
as the test machines and CI run); without it the caller is told and stays where it was.
"""

from __future__ import annotations

import ctypes
import fcntl
import os
import socket
import struct
from collections.abc import Iterator
from contextlib import contextmanager

CLONE_NEWNET = 0x40000000
SIOCGIFFLAGS, SIOCSIFFLAGS, IFF_UP = 0x8913, 0x8914, 0x1
_libc = ctypes.CDLL(None, use_errno=True)


def _loopback_up() -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        request = struct.pack("16sh", b"lo", 0)
        flags = struct.unpack("16sh", fcntl.ioctl(s, SIOCGIFFLAGS, request))[1]
        fcntl.ioctl(s, SIOCSIFFLAGS, struct.pack("16sh", b"lo", flags | IFF_UP))


@contextmanager
def loopback_netns() -> Iterator[bool]:
    """Run the body in a fresh namespace with only loopback (True), or unchanged (False: not permitted)."""
    home = os.open("/proc/thread-self/ns/net", os.O_RDONLY)
    try:
        if _libc.unshare(CLONE_NEWNET) != 0:
            yield False
            return
        try:
            _loopback_up()
            yield True
        finally:
            if _libc.setns(home, CLONE_NEWNET) != 0:
                err = ctypes.get_errno()
                raise OSError(err, f"cannot return to the original network namespace: {os.strerror(err)}")
    finally:
        os.close(home)
