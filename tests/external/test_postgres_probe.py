"""The postgres probe against a real PostgreSQL: a throwaway cluster on 127.0.0.1.

Needs the Debian package `postgresql` (initdb and pg_ctl under
/usr/lib/postgresql/<version>/bin). Without it the tests skip, naming the package;
with TRIAGED_REQUIRE_EXTERNAL=1 (.ci/run) they fail instead, as conftest.py does.
PostgreSQL refuses to run as root: as root, initdb and pg_ctl run as the `postgres`
system user (runuser), in a data directory that user owns.
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from rules.probes import PostgresProbe
from tests.support.ports import free_port
from workers.probes import postgres
from workers.probes.base import Outcome, ProbeContext, ProbeResult

pytestmark = pytest.mark.external

DEBIAN_PACKAGE = "postgresql"
ENV = "TRIAGED_TEST_PROBE_PG_DSN"
USER = "probe"
PASSWORD = "pr0be-s3cret"
SERVER_USER = "postgres"  # the system user Debian's package creates


def _missing(what: str) -> None:
    """Skip naming the package, or fail under TRIAGED_REQUIRE_EXTERNAL=1 (as conftest.py)."""
    message = (
        f"{what} not found: install the Debian package `{DEBIAN_PACKAGE}` "
        f"(apt-get install {DEBIAN_PACKAGE})"
    )
    if os.environ.get("TRIAGED_REQUIRE_EXTERNAL") == "1":
        pytest.fail(f"{message}; TRIAGED_REQUIRE_EXTERNAL=1 forbids skipping", pytrace=False)
    pytest.skip(message)


def _bindir() -> Path | None:
    """The newest /usr/lib/postgresql/<version>/bin with initdb and pg_ctl, or PATH's."""
    found = sorted(
        (Path(p).parent for p in glob.glob("/usr/lib/postgresql/*/bin/initdb")),
        key=lambda d: int(d.parent.name) if d.parent.name.isdigit() else 0,
    )
    for bindir in reversed(found):
        if (bindir / "pg_ctl").exists():
            return bindir
    initdb = shutil.which("initdb")
    if initdb and shutil.which("pg_ctl"):
        return Path(initdb).parent
    return None


@dataclass(frozen=True)
class Cluster:
    port: int
    version: str

    def dsn(self, password: str = PASSWORD, database: str = "postgres") -> str:
        return f"postgresql://{USER}:{password}@127.0.0.1:{self.port}/{database}"


@pytest.fixture(scope="module")
def cluster() -> Iterator[Cluster]:
    """initdb + pg_ctl start on a free port; stopped (immediate) and removed after."""
    bindir = _bindir()
    if bindir is None:
        _missing("PostgreSQL server binaries (initdb, pg_ctl)")
    assert bindir is not None
    as_server: list[str] = []
    owner = None
    if os.geteuid() == 0:
        try:
            owner = pwd.getpwnam(SERVER_USER)
        except KeyError:
            _missing(f"the `{SERVER_USER}` system user")
        runuser = shutil.which("runuser")
        if runuser is None:
            pytest.fail("runuser not found (util-linux): cannot drop root for PostgreSQL")
        as_server = [runuser, "-u", SERVER_USER, "--"]
    base = Path(tempfile.mkdtemp(prefix="triaged-pg-"))
    data, pwfile = base / "data", base / "pwfile"
    pwfile.write_text(PASSWORD + "\n")
    if owner is not None:
        os.chown(base, owner.pw_uid, owner.pw_gid)
        os.chown(pwfile, owner.pw_uid, owner.pw_gid)
    port = free_port()

    def run(*args: str, timeout: float = 120) -> None:
        done = subprocess.run(
            [*as_server, *args], cwd=base, capture_output=True, text=True, timeout=timeout
        )
        assert done.returncode == 0, f"{args[0]} failed:\n{done.stdout}\n{done.stderr}"

    pg_ctl = str(bindir / "pg_ctl")
    started = False
    try:
        run(
            str(bindir / "initdb"),
            f"--pgdata={data}",
            f"--username={USER}",
            f"--pwfile={pwfile}",
            "--auth-local=scram-sha-256",
            "--auth-host=scram-sha-256",
            "--no-locale",
            "--encoding=UTF8",
            "--no-sync",
        )
        options = f"-c listen_addresses=127.0.0.1 -p {port} -k {data} -c fsync=off"
        started = True  # from here on, stop it whatever happens
        run(
            pg_ctl,
            "start",
            "-w",
            "-t",
            "60",
            "-D",
            str(data),
            "-l",
            str(base / "log"),
            "-o",
            options,
        )
        yield Cluster(port=port, version=bindir.parent.name)
    finally:
        if started:
            subprocess.run(
                [*as_server, pg_ctl, "stop", "-m", "immediate", "-w", "-D", str(data)],
                cwd=base,
                capture_output=True,
                timeout=60,
            )
        shutil.rmtree(base, ignore_errors=True)


async def probe(timeout: str = "5s") -> ProbeResult:
    spec = PostgresProbe.model_validate({"dsn_env": ENV, "timeout": timeout})
    async with httpx.AsyncClient(trust_env=False) as client:
        return await postgres.run(
            "db", spec, ProbeContext(labels={}, http=client, environ=os.environ)
        )


async def test_select_1_on_a_real_postgresql_is_ok(
    cluster: Cluster, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(ENV, cluster.dsn())
    found = await probe()
    assert found.outcome is Outcome.OK, found.detail
    assert found.detail.startswith("SELECT 1 in ")
    assert f" ms (server {cluster.version}." in found.detail  # "(server 15.18)"


async def test_a_wrong_password_fails_as_authentication_without_the_password(
    cluster: Cluster, monkeypatch: pytest.MonkeyPatch
) -> None:
    wrong = "not-" + PASSWORD
    monkeypatch.setenv(ENV, cluster.dsn(password=wrong))
    found = await probe()
    assert found.outcome is Outcome.FAILED, found.detail
    assert found.detail.startswith(f"authentication failed at 127.0.0.1:{cluster.port}: ")
    assert f'password authentication failed for user "{USER}"' in found.detail
    assert wrong not in found.detail and PASSWORD not in found.detail


async def test_a_missing_database_fails_and_is_named(
    cluster: Cluster, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(ENV, cluster.dsn(database="nosuchdb"))
    found = await probe()
    assert found.outcome is Outcome.FAILED, found.detail
    assert found.detail.startswith(f"database missing at 127.0.0.1:{cluster.port}: ")
    assert '"nosuchdb" does not exist' in found.detail
