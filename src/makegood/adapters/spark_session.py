"""One Spark session per process, made on first use and reused by every run after it.

Starting Spark takes seconds (a JVM for local[*] or a cluster's driver; a gRPC
channel for Spark Connect), so it is started once; the time it took is reported with
the first run. The session time zone is pinned to UTC whatever else is configured:
the translated rules convert between instants and local times themselves, and Spark
would otherwise read and write instants in the JVM's zone.
"""

from __future__ import annotations

import os
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from importlib import resources
from typing import TYPE_CHECKING, Any

from makegood.config import SparkSettings
from makegood.core.errors import ConfigurationError

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

PINNED = {"spark.sql.session.timeZone": "UTC", "spark.sql.timestampType": "TIMESTAMP_LTZ"}
_lock = threading.Lock()
_current: dict[str, Any] = {}  # "key" -> (master, conf) and "session" -> SparkSession


class SparkSessions:
    """The process's Spark session for these settings."""

    def __init__(self, settings: SparkSettings) -> None:
        self.settings = settings

    def get(self) -> tuple[SparkSession, float]:
        """The session, and the seconds spent starting it now (0 when reused)."""
        key = (self.settings.master, tuple(sorted(self.settings.conf.items())))
        with _lock:
            if _current.get("key") == key:
                return _current["session"], 0.0
            if "session" in _current:  # another master or conf: one session at a time
                _current.pop("session").stop()
                _current.pop("key")
            began = time.perf_counter()
            session = _start(self.settings)
            _current.update(key=key, session=session)
            return session, round(time.perf_counter() - began, 3)


def _start(settings: SparkSettings) -> SparkSession:
    try:
        from pyspark.sql import SparkSession
    except ImportError:
        raise ConfigurationError(
            "impact_engine spark needs PySpark: install makegood[spark] (pip install "
            "'makegood[spark]') and a Java runtime, 17 or later"
        ) from None
    builder = SparkSession.builder.appName(settings.app_name)
    remote = settings.master.startswith("sc://")
    if remote:
        builder = builder.remote(settings.master)
    elif not os.environ.get("PYSPARK_GATEWAY_PORT"):
        # Under spark-submit (which starts the JVM and says where) its --master stands.
        builder = builder.master(settings.master)
    defaults = {} if remote else _local_defaults(settings.master)
    conf = {**defaults, **settings.conf, **PINNED}
    if not remote and "spark.driver.extraJavaOptions" in settings.conf:
        # Given options join makegood's logging option rather than replace it.
        own = defaults["spark.driver.extraJavaOptions"]
        conf["spark.driver.extraJavaOptions"] = (
            f"{own} {settings.conf['spark.driver.extraJavaOptions']}"
        )
    if settings.master.startswith("local"):
        os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")  # read before any setting
    for name, value in conf.items():
        builder = builder.config(name, value)
    with spark_error(f"starting Spark at {settings.master}"):
        return builder.getOrCreate()


def _local_defaults(master: str) -> dict[str, str]:
    """For a driver in this process: a private warehouse directory (a second run would
    otherwise find the first's), Arrow to move the customers, no web UI or progress
    bars, and Spark's routine logging quiet. On local[*], fewer shuffle partitions than
    a cluster's 200 (a task each costs more than the little data it would hold), and a
    driver bound to loopback."""
    log_config = resources.files("makegood.adapters").joinpath("spark-log4j2.properties")
    local = {
        "spark.sql.shuffle.partitions": "8",
        "spark.driver.bindAddress": "127.0.0.1",  # nothing outside reaches a local driver
        "spark.driver.host": "127.0.0.1",
    }
    return {
        **(local if master.startswith("local") else {}),
        "spark.sql.warehouse.dir": tempfile.mkdtemp(prefix="makegood-spark-warehouse-"),
        "spark.sql.execution.arrow.pyspark.enabled": "true",
        "spark.ui.enabled": "false",
        "spark.ui.showConsoleProgress": "false",
        "spark.driver.extraJavaOptions": f"-Dlog4j2.configurationFile=file:{log_config}",
    }


@contextmanager
def spark_error(doing: str) -> Iterator[None]:
    """Spark's and the JVM bridge's failures as one clear line naming what was being done."""
    try:
        from py4j.protocol import Py4JError
        from pyspark.errors import PySparkException
    except ImportError:  # no PySpark: _start says so
        yield
        return
    try:
        yield
    except (PySparkException, Py4JError) as exc:
        text = str(exc).strip()
        if "JAVA_GATEWAY_EXITED" in text or "JAVA_HOME" in text:
            raise ConfigurationError(
                f"{doing}: Spark could not start its Java runtime; install Java 17 or later "
                "(apt-get install openjdk-17-jre-headless) or set JAVA_HOME"
            ) from None
        first = (text.splitlines() or [type(exc).__name__])[0]
        raise ConfigurationError(f"{doing} failed on Spark: {first}") from None
