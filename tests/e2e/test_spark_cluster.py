"""`makegood impact run --engine spark` against a real Spark standalone cluster (a
master and a worker) and through Spark Connect, both started by the documented
script; the impacts stored equal DuckDB's."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from tests.support import cli
from tests.support import truth as gt

pytest.importorskip("pyspark", reason="the spark extra is part of the test environment")
SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "spark-standalone"
# A tiny dataset: a few shuffle partitions, not a cluster's 200.
CONF = {
    "spark.cores.max": "1",
    "spark.executor.memory": "512m",
    "spark.sql.shuffle.partitions": "2",
}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def cluster(tmp_path_factory) -> Iterator[dict[str, str]]:
    logs = tmp_path_factory.mktemp("spark-cluster")
    env = {
        **os.environ,
        "MASTER_PORT": str(_free_port()),
        "CONNECT_PORT": str(_free_port()),
        "PYTHON": sys.executable,
    }
    try:
        started = subprocess.run(
            [str(SCRIPT), "start", str(logs)],
            env=env,
            capture_output=True,
            text=True,
            timeout=180,
        )
        assert started.returncode == 0, started.stderr
        urls = dict(line.split(maxsplit=1) for line in started.stdout.splitlines())
        yield {**urls, "logs": str(logs)}
    finally:
        subprocess.run([str(SCRIPT), "stop", str(logs)], env=env, timeout=60)


def _makegood(*args: str, env: dict[str, str], cwd: Path) -> dict:
    proc = cli.run(["--json", *args], env=env, cwd=cwd, timeout=300)
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


def _impact_run_process(incident: int, master: str, env: dict[str, str], cwd: Path) -> dict:
    """A real `makegood` process: its own Spark driver (or Connect client)."""
    spark_env = {
        **env,
        "MAKEGOOD_SPARK__MASTER": master,
        "MAKEGOOD_SPARK__CONF": json.dumps(CONF),
        "SPARK_LOCAL_IP": "127.0.0.1",
    }
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "makegood",
            "--json",
            "impact",
            "run",
            str(incident),
            "--engine",
            "spark",
        ],
        env=spark_env,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


def _stored(db: str, incident: int) -> list[tuple]:
    engine = create_engine(db)
    with engine.connect() as con:
        rows = con.execute(
            text(
                "SELECT customer_id, confidence, magnitude, rule, evidence FROM impacts "
                "WHERE incident_id = :i ORDER BY customer_id"
            ),
            {"i": incident},
        ).all()
    engine.dispose()
    return [tuple(r) for r in rows]


@pytest.mark.slow
@pytest.mark.cluster
def test_impact_run_on_a_standalone_cluster_and_through_spark_connect(cluster, tmp_path):
    truth = gt.build()
    files = gt.write(truth, tmp_path / "data", "parquet")
    db = f"sqlite:///{tmp_path / 'makegood.db'}"
    env = {**os.environ, "MAKEGOOD_DATABASE_URL": db, "MAKEGOOD_NOW": gt.NOW.isoformat()}
    _makegood("init", env=env, cwd=tmp_path)
    _makegood("customers", "import", str(files["customers"]), env=env, cwd=tmp_path)
    for table in ("usage_events", "shipments"):
        _makegood("sources", "add", table, str(files[table]), env=env, cwd=tmp_path)
    incident = _makegood(
        "incidents",
        "declare",
        "--service",
        "streaming",
        "--title",
        "Playback failing",
        "--start",
        gt.STREAM_START.isoformat(),
        "--end",
        gt.STREAM_END.isoformat(),
        env=env,
        cwd=tmp_path,
    )["id"]
    _makegood("impact", "run", str(incident), "--engine", "duckdb", env=env, cwd=tmp_path)
    on_duckdb = _stored(db, incident)
    assert len(on_duckdb) == len(truth.streaming_confirmed) + len(truth.streaming_possible)

    for master in (cluster["master"], cluster["connect"]):
        found = _impact_run_process(incident, master, env, tmp_path)
        assert (found["confirmed"], found["possible"]) == (
            len(truth.streaming_confirmed),
            len(truth.streaming_possible),
        )
        assert found["seconds"]["spark_start"] > 0
        assert _stored(db, incident) == on_duckdb, master
    # The driver registered with the standalone master: the work ran on its worker.
    master_log = (Path(cluster["logs"]) / "master.log").read_text()
    assert "Registered app makegood with ID" in master_log
