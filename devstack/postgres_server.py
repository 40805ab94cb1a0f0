"""PostgreSQL 15 from Debian's ``postgresql-15`` package, for the alert ledger's several workers.

Install: the binaries must exist in ``/usr/lib/postgresql/15/bin`` (or the
folder ``TELEWATCH_PG_BIN`` names); otherwise ``install()`` says to run
``apt-get install postgresql-15``. Nothing of the system cluster is used.

Run: ``initdb`` once into ``<home>/postgres/data`` (trust authentication,
superuser and database ``telewatch``), then ``postgres`` on 127.0.0.1 only,
without a Unix socket. ``initdb`` and ``postgres`` refuse to run as root: as
root, both run as the system user ``telewatch-pg`` (created with ``useradd
--system`` when missing) through ``setpriv``, which execs, so the recorded PID
is the postmaster's. ``stop()`` asks for a fast shutdown (SIGINT) first.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import shutil
import signal
import stat
import subprocess
import time
from pathlib import Path

import psycopg

from devstack.process import ManagedServer, MissingDependency, ServerFailed, pid_alive

#: Environment variable that may name a folder with PostgreSQL 15's ``initdb`` and ``postgres``.
PG_BIN_ENV = "TELEWATCH_PG_BIN"
DEFAULT_BIN = Path("/usr/lib/postgresql/15/bin")
#: The unprivileged system user the server runs as when we are root.
RUN_USER = "telewatch-pg"
#: The superuser and the database the ledger uses.
DATABASE = "telewatch"


class PostgresServer(ManagedServer):
    """``postgres`` on 127.0.0.1:``port`` with database and trusted superuser ``telewatch``.

    ``durable=False`` turns off fsync (tests: faster, and a crash may lose the data).
    """

    name = "postgres"
    start_timeout = 60.0

    def __init__(self, home: Path, port: int = 15432, durable: bool = True) -> None:
        super().__init__(home)
        self.port = port
        self.durable = durable
        self.data = self.dir.absolute() / "data"

    # -- install ------------------------------------------------------------------
    def bin_dir(self) -> Path:
        """Where ``initdb`` and ``postgres`` are: ``$TELEWATCH_PG_BIN`` or Debian's folder."""
        override = os.environ.get(PG_BIN_ENV)
        return Path(override).absolute() if override else DEFAULT_BIN

    def install(self) -> None:
        """Check that PostgreSQL 15's server binaries are there; say how to get them if not."""
        missing = [b for b in ("initdb", "postgres") if not os.access(self.bin_dir() / b, os.X_OK)]
        if not missing:
            return
        where = f"{PG_BIN_ENV}={self.bin_dir()}" if os.environ.get(PG_BIN_ENV) else str(self.bin_dir())
        raise MissingDependency(
            f"PostgreSQL 15 is not installed ({', '.join(missing)} missing in {where}): run "
            "`apt-get install postgresql-15` as root (`systemctl disable --now postgresql` stops the system "
            f"cluster, which telewatch does not use), or set {PG_BIN_ENV} to a PostgreSQL 15 bin folder"
        )

    # -- run ----------------------------------------------------------------------
    def prepare(self) -> None:
        self.dir.mkdir(parents=True, exist_ok=True)
        if os.geteuid() == 0:
            user = _ensure_user(RUN_USER)
            _check_reachable(self.dir.absolute(), user)
            os.chown(self.dir, user.pw_uid, user.pw_gid)
        if (self.data / "PG_VERSION").is_file():
            return
        initdb = [
            *self._as_user(),
            str(self.bin_dir() / "initdb"),
            f"--pgdata={self.data}",
            f"--username={DATABASE}",
            "--auth=trust",
            "--encoding=UTF8",
            "--locale=C",
            *([] if self.durable else ["--no-sync"]),
        ]
        done = subprocess.run(initdb, cwd=self.dir, env=self.environment(), capture_output=True, text=True, check=False)
        if done.returncode != 0:
            shutil.rmtree(self.data, ignore_errors=True)
            raise ServerFailed(f"initdb failed (exit {done.returncode}):\n{(done.stderr + done.stdout).strip()}")

    def command(self) -> list[str]:
        settings = {
            "listen_addresses": "127.0.0.1",
            "port": str(self.port),
            "unix_socket_directories": "",
            "logging_collector": "off",
            **({} if self.durable else {"fsync": "off", "synchronous_commit": "off", "full_page_writes": "off"}),
        }
        options = [arg for key, value in settings.items() for arg in ("-c", f"{key}={value}")]
        return [*self._as_user(), str(self.bin_dir() / "postgres"), "-D", str(self.data), *options]

    def environment(self) -> dict[str, str]:
        # PGDATA, PGPORT … from our environment would override the command line's intent.
        env = {k: v for k, v in os.environ.items() if not k.startswith("PG")}
        return env | {"LC_ALL": "C", "LANG": "C"}

    def ready(self) -> bool:
        """True once the server accepts connections; creates the ``telewatch`` database the first time."""
        try:
            with psycopg.connect(self.conninfo("postgres"), autocommit=True, connect_timeout=2) as conn:
                found = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (DATABASE,)).fetchone()
                if found is None:
                    conn.execute(f'CREATE DATABASE "{DATABASE}"')
        except psycopg.OperationalError:
            return False
        return True

    def stop(self, grace: float = 10.0) -> bool:
        """Fast shutdown (SIGINT: roll back open transactions, close sessions), then the usual stop by PID."""
        pid = self.pid()
        if pid is not None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGINT)
            deadline = time.monotonic() + grace
            while time.monotonic() < deadline and pid_alive(pid):
                _reap(pid)
                time.sleep(0.05)
        return super().stop(grace) or pid is not None

    @property
    def endpoint(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def ports(self) -> tuple[int, ...]:
        return (self.port,)

    # -- clients --------------------------------------------------------------------
    @property
    def url(self) -> str:
        """SQLAlchemy URL of the ``telewatch`` database (psycopg 3)."""
        return f"postgresql+psycopg://{DATABASE}@127.0.0.1:{self.port}/{DATABASE}"

    def conninfo(self, database: str = DATABASE) -> str:
        """libpq connection string for ``database``."""
        return f"host=127.0.0.1 port={self.port} user={DATABASE} dbname={database}"

    def _as_user(self) -> list[str]:
        if os.geteuid() != 0:
            return []
        user = _ensure_user(RUN_USER)
        return ["setpriv", f"--reuid={user.pw_uid}", f"--regid={user.pw_gid}", "--init-groups"]


def _ensure_user(name: str) -> pwd.struct_passwd:
    """The system user ``name``, created (no home, no login shell) when missing."""
    try:
        return pwd.getpwnam(name)
    except KeyError:
        pass
    useradd = shutil.which("useradd")
    if useradd is None:
        raise MissingDependency(f"PostgreSQL refuses to run as root and `useradd` is missing to create {name!r}")
    done = subprocess.run(
        [useradd, "--system", "--no-create-home", "--home-dir", "/nonexistent", "--shell", "/usr/sbin/nologin", name],
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode not in (0, 9):  # 9: created meanwhile by someone else
        raise ServerFailed(f"`useradd --system {name}` failed: {(done.stderr + done.stdout).strip()}")
    return pwd.getpwnam(name)


def _check_reachable(path: Path, user: pwd.struct_passwd) -> None:
    """Refuse a server folder the run user cannot reach (e.g. below a mode-0700 folder of root's)."""
    groups = set(os.getgrouplist(user.pw_name, user.pw_gid))
    for folder in reversed(path.parents):
        info = folder.stat()
        if info.st_uid == user.pw_uid:
            bit = stat.S_IXUSR
        elif info.st_gid in groups:
            bit = stat.S_IXGRP
        else:
            bit = stat.S_IXOTH
        if not info.st_mode & bit:
            raise ServerFailed(
                f"PostgreSQL runs as {user.pw_name} (it refuses root), which cannot enter {folder} "
                f"(mode {stat.S_IMODE(info.st_mode):o}); put the stack home elsewhere or `chmod o+x {folder}`"
            )


def _reap(pid: int) -> None:
    with contextlib.suppress(ChildProcessError):
        os.waitpid(pid, os.WNOHANG)
