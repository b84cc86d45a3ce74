"""``federate serve --workers N``: uvicorn's worker processes, each with a listening socket
of its own.

uvicorn's supervisor binds one socket and hands it to every worker. Workers sharing a
socket race for connections, and an idle worker's event loop accepts every connection
waiting when it wakes (asyncio accepts up to the backlog at once): 32 keep-alive clients
connecting together all landed on one of two workers (measured: 32 sockets in one, none
in the other), which then answered every request on one core while the other sat idle,
and queued requests set the tail latency. On Linux each worker instead opens its own
socket on the address with ``SO_REUSEPORT``, and the kernel spreads new connections over
the workers' sockets evenly (by a hash of the connection's addresses and ports). uvicorn's
supervisor still runs the workers: it restarts one that dies (its new socket joins the
group) and stops them on SIGTERM or Ctrl-C.

Where ``SO_REUSEPORT`` is missing (Windows, macOS spreads nothing), the shared socket is
used as before.
"""

from __future__ import annotations

import errno
import inspect
import socket
import sys
from typing import Any

from federate.errors import INVALID_PARAMETER_VALUE, FederateError


def reuse_port_spreads_connections() -> bool:
    """Whether the kernel spreads connections over sockets sharing a port (Linux)."""
    return sys.platform.startswith("linux") and hasattr(socket, "SO_REUSEPORT")


def _family(host: str) -> socket.AddressFamily:
    return socket.AF_INET6 if ":" in host else socket.AF_INET


def _socket(host: str, port: int) -> socket.socket:
    sock = socket.socket(_family(host), socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    return sock


def worker_socket(host: str, port: int) -> socket.socket:
    """A socket bound to ``host:port`` with ``SO_REUSEPORT``, in the group of the other
    workers' (uvicorn makes it listen)."""
    sock = _socket(host, port)
    try:
        sock.bind((host, port))
    except OSError:
        sock.close()
        raise
    sock.set_inheritable(True)
    return sock


def check_address(host: str, port: int) -> None:
    """Fail clearly, before any worker starts, if ``host:port`` cannot be bound (another
    server listens there, or the address is not this machine's)."""
    sock = _socket(host, port)
    try:
        sock.bind((host, port))
    except OSError as err:
        why = "it is in use" if err.errno == errno.EADDRINUSE else err.strerror
        raise FederateError(
            f"federate serve cannot listen on {host}:{port}: {why}; "
            "choose another --port or --host",
            INVALID_PARAMETER_VALUE,
        ) from None
    finally:
        sock.close()


class WorkerSocket:
    """Stands for one worker's listening socket in uvicorn's supervisor: the supervisor
    passes its sockets to each worker it spawns by pickling them, and this one arrives
    in the worker as a new socket of the worker's own (:func:`worker_socket`)."""

    def __init__(self, host: str, port: int) -> None:
        self.host = host
        self.port = port

    def __reduce__(self) -> tuple[Any, tuple[str, int]]:
        return (worker_socket, (self.host, self.port))


def run_workers(config: Any) -> None:
    """Run ``config.workers`` uvicorn workers (``config``: a ``uvicorn.Config`` of an app
    named by import string) until SIGTERM or Ctrl-C."""
    import logging

    from uvicorn.supervisors.multiprocess import Multiprocess

    check_address(config.host, config.port)
    logging.getLogger("uvicorn.error").info(
        "Uvicorn running on http://%s:%d (%d workers, a socket each; Press CTRL+C to quit)",
        config.host,
        config.port,
        config.workers,
    )
    kwargs: dict[str, Any] = {"sockets": [WorkerSocket(config.host, config.port)]}
    if "target" in inspect.signature(Multiprocess).parameters:  # uvicorn < 0.30
        import uvicorn

        kwargs["target"] = uvicorn.Server(config).run
    Multiprocess(config, **kwargs).run()
