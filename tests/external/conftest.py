"""Fixtures for tests that need a Debian package (installed by .ci/run).

Without the package a test is skipped, naming the package to install. With
``TRIAGED_REQUIRE_EXTERNAL=1`` (set by .ci/run) a missing package is a
failure instead, so CI cannot go green by skipping.
"""

from __future__ import annotations

import os
import shutil

import pytest

from tests.support.alertmanager import DEBIAN_PACKAGE, find_alertmanager


def _missing(what: str, package: str) -> None:
    message = (
        f"{what} not found: install the Debian package `{package}` (apt-get install {package})"
    )
    if os.environ.get("TRIAGED_REQUIRE_EXTERNAL") == "1":
        pytest.fail(f"{message}; TRIAGED_REQUIRE_EXTERNAL=1 forbids skipping", pytrace=False)
    pytest.skip(message)


@pytest.fixture(scope="session")
def alertmanager_bin() -> str:
    """Path of Alertmanager (Debian installs it as /usr/bin/prometheus-alertmanager)."""
    found = find_alertmanager()
    if found is None:
        _missing("alertmanager (or prometheus-alertmanager)", DEBIAN_PACKAGE)
    assert found is not None
    return found


@pytest.fixture(scope="session")
def promtool_bin() -> str:
    """Path of promtool (Debian 12 ships it in the `prometheus` package)."""
    found = shutil.which("promtool")
    if found is None:
        _missing("promtool", "prometheus")
    assert found is not None
    return found
