"""federate.server.workers: a listening socket per worker (SO_REUSEPORT)."""

from __future__ import annotations

import pickle
import socket
import sys

import pytest

from federate.errors import FederateError
from federate.server.workers import WorkerSocket, check_address

pytestmark = pytest.mark.skipif(
    not sys.platform.startswith("linux"), reason="SO_REUSEPORT spreading: Linux"
)


def test_a_worker_socket_arrives_in_a_worker_as_a_socket_of_its_own():
    first = pickle.loads(pickle.dumps(WorkerSocket("127.0.0.1", 0)))
    try:
        port = first.getsockname()[1]
        first.listen()
        # a second worker's socket joins the first's port
        second = pickle.loads(pickle.dumps(WorkerSocket("127.0.0.1", port)))
        try:
            assert second.getsockname() == ("127.0.0.1", port)
            assert second.fileno() != first.fileno()
            assert second.getsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT) == 1
        finally:
            second.close()
    finally:
        first.close()


def test_an_address_in_use_is_one_clear_error():
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        with pytest.raises(FederateError) as err:
            check_address("127.0.0.1", port)
    assert err.value.error_code == "INVALID_PARAMETER_VALUE"
    assert f"cannot listen on 127.0.0.1:{port}: it is in use" in str(err.value)
