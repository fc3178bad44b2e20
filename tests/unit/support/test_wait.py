"""wait_until: returns the first truthy value, fails with a message at the deadline."""

from __future__ import annotations

import itertools
import time

import pytest

from tests.support.ports import free_port
from tests.support.wait import wait_until


def test_returns_the_first_truthy_value() -> None:
    counter = itertools.count()

    value = wait_until(lambda: [n] if (n := next(counter)) >= 3 else None, timeout=5, interval=0)

    assert value == [3]


def test_raises_with_message_and_elapsed_time() -> None:
    start = time.monotonic()

    with pytest.raises(AssertionError, match=r"timed out after 0\.\d+s .*waiting for: the thing"):
        wait_until(lambda: 0, timeout=0.2, interval=0.05, message="the thing")
    assert 0.2 <= time.monotonic() - start < 1


def test_calls_at_least_once_even_with_no_time() -> None:
    assert wait_until(lambda: "yes", timeout=0) == "yes"


def test_free_port_is_bindable() -> None:
    import socket

    port = free_port()
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", port))
    assert 0 < port < 65536
