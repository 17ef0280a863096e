"""Shared fixtures: workspaces, a real PostgreSQL server started for the session, one Spark session.

With CI=true a suite whose component cannot start fails instead of skipping.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

IN_CI = os.environ.get("CI", "").lower() == "true"
REPO = Path(__file__).resolve().parent.parent


def unavailable(reason: str) -> None:
    """Skip locally, fail in CI: real components must run there."""
    if IN_CI:
        pytest.fail(f"required component unavailable in CI: {reason}")
    pytest.skip(reason)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _pg_bin() -> Path | None:
    candidates = sorted(Path("/usr/lib/postgresql").glob("*/bin"), key=lambda p: int(p.parent.name))
    return candidates[-1] if candidates and (candidates[-1] / "initdb").exists() else None


class PostgresServer:
    def __init__(self, port: int, root: Path) -> None:
        self.port, self.root = port, root

    def create_database(self) -> str:
        """A new empty database; returns its name."""
        name = "t_" + uuid.uuid4().hex[:12]
        import psycopg

        with psycopg.connect(f"host=127.0.0.1 port={self.port} user=postgres dbname=postgres",
                             autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        return name

    def ibis_url(self, db: str) -> str:
        return f"postgres://postgres@127.0.0.1:{self.port}/{db}"

    def sqlalchemy_url(self, db: str) -> str:
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/{db}"


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    bin_dir = _pg_bin()
    if bin_dir is None:
        unavailable("PostgreSQL server binaries not installed (apt-get install postgresql)")
        return
    root = Path(tempfile.mkdtemp(prefix="crmscore-pg-"))
    data = root / "data"
    port = _free_port()
    as_root = os.geteuid() == 0
    prefix = ["runuser", "-u", "postgres", "--"] if as_root else []
    if as_root:
        shutil.chown(root, "postgres", "postgres")
    subprocess.run([*prefix, str(bin_dir / "initdb"), "-D", str(data), "-A", "trust", "-U", "postgres",
                    "--no-sync", "-E", "UTF8", "--locale=C"], check=True, capture_output=True)
    opts = f"-p {port} -k {root} -h 127.0.0.1 -c fsync=off -c full_page_writes=off"
    subprocess.run([*prefix, str(bin_dir / "pg_ctl"), "-D", str(data), "-o", opts, "-l", str(root / "log"),
                    "-w", "-t", "60", "start"], check=True, capture_output=True)
    try:
        yield PostgresServer(port, root)
    finally:
        subprocess.run([*prefix, str(bin_dir / "pg_ctl"), "-D", str(data), "-m", "immediate", "stop"],
                       capture_output=True)
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture
def pg_urls(postgres_server: PostgresServer) -> dict[str, str]:
    """A fresh PostgreSQL database: its Ibis (warehouse) and SQLAlchemy (app database) URLs."""
    db = postgres_server.create_database()
    return {"warehouse": postgres_server.ibis_url(db), "database": postgres_server.sqlalchemy_url(db)}


@pytest.fixture(scope="session")
def spark_session():  # type: ignore[no-untyped-def]
    try:
        from pyspark.sql import SparkSession
    except ImportError:
        unavailable("pyspark not installed")
        return
    if shutil.which("java") is None:
        unavailable("java not installed (apt-get install default-jre-headless)")
        return
    warehouse_dir = tempfile.mkdtemp(prefix="crmscore-spark-")
    spark = (SparkSession.builder.master("local[2]").appName("crmscore-tests")
             .config("spark.sql.warehouse.dir", warehouse_dir)
             .config("spark.sql.shuffle.partitions", "4")
             .config("spark.ui.enabled", "false")
             .config("spark.sql.session.timeZone", "UTC")
             .config("spark.driver.memory", "2g")
             .getOrCreate())
    spark.sparkContext.setLogLevel("ERROR")
    try:
        yield spark
    finally:
        spark.stop()
        shutil.rmtree(warehouse_dir, ignore_errors=True)


@pytest.fixture
def workspace(tmp_path: Path):  # type: ignore[no-untyped-def]
    from crmscore.workspace import Workspace

    ws = Workspace.init(tmp_path / "ws")
    try:
        yield ws
    finally:
        ws.close()


@pytest.fixture(scope="session")
def wait_for_port():  # type: ignore[no-untyped-def]
    def _wait(port: int, timeout: float = 20.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with socket.socket() as s:
                if s.connect_ex(("127.0.0.1", port)) == 0:
                    return
            time.sleep(0.1)
        raise TimeoutError(f"nothing listening on 127.0.0.1:{port}")

    return _wait
