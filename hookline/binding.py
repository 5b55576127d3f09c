"""Binding the listening socket before anything is announced.

``hookline serve`` and ``hookline listen`` bind their port first and hand the bound socket to
uvicorn, so a port that is taken (or not allowed) is reported as one line that names it and says
how to pick another — before a banner claims the server is up, and without a traceback.
"""

from __future__ import annotations

import errno
import socket

from hookline.errors import HooklineError


class BindError(HooklineError):
    """The address cannot be listened on; the message names it and what to do (the CLI exits 2)."""


def bind_socket(host: str, port: int, *, how_to_change: str = "--port PORT or HOOKLINE_PORT=PORT") -> socket.socket:
    """A TCP socket bound to ``host``:``port`` (0: any free port), ready to hand to uvicorn.

    Raises BindError with a message naming the address and, for a port in use, how to choose
    another (``how_to_change``)."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except socket.gaierror as exc:
        raise BindError(f"cannot listen on {host!r}: {exc.strerror} (set --host or HOOKLINE_HOST)") from None
    family, kind, proto, _, address = infos[0]
    sock = socket.socket(family, kind, proto)
    # As uvicorn does: a restarted server may bind while old connections linger in TIME_WAIT.
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind(address)
    except OSError as exc:
        sock.close()
        where = f"{_shown(host)}:{port}"
        if exc.errno == errno.EADDRINUSE:
            message = (
                f"port {port} is already in use ({where}): is another hookline or server running there? "
                f"Stop it, or pick another port with {how_to_change}"
            )
        elif exc.errno == errno.EACCES:
            message = f"not allowed to listen on {where}: pick a port above 1023 with {how_to_change}"
        elif exc.errno == errno.EADDRNOTAVAIL:
            message = f"cannot listen on {where}: {host} is not an address of this machine"
            message += " (set --host or HOOKLINE_HOST)"
        else:
            message = f"cannot listen on {where}: {exc.strerror}"
        raise BindError(message) from None
    # Listen now, not when uvicorn starts: whoever reads the announcement (a test, a script, the
    # README tour) may connect at once, and the kernel queues them until uvicorn accepts.
    sock.listen(2048)
    sock.set_inheritable(True)
    return sock


def _shown(host: str) -> str:
    return f"[{host}]" if ":" in host else host
