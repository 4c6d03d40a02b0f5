"""A local Neo4j server the project runs for itself: jars from Maven Central, Debian's OpenJDK 17, 127.0.0.1 only.

``install`` resolves scripts/neo4j/pom.xml with ``mvn dependency:copy-dependencies`` into ``<neo4j_home>/lib``
(retried when the registry answers 429/5xx); ``start`` writes ``conf/neo4j.conf``, launches
``org.neo4j.server.CommunityEntryPoint`` detached with the flags Neo4j's own launcher adds, and waits until Bolt
answers; ``stop`` sends SIGTERM and waits for a clean shutdown.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from graphrag.config import Settings
from graphrag.errors import ConfigError, StoreUnavailableError

__all__ = ["Neo4jServer", "ServerStatus"]

NEO4J_VERSION = "5.26.30"
_POM = Path(__file__).resolve().parents[2] / "scripts" / "neo4j" / "pom.xml"  # the repo's scripts/, beside graphrag/
_JAVA_CANDIDATES = ("/usr/lib/jvm/java-17-openjdk-amd64/bin/java", "/usr/lib/jvm/openjdk-17/bin/java")
# Neo4j's own default JVM flags. AlwaysPreTouch commits the whole heap at start, so the first queries do not pay
# for page faults as the heap grows into fresh memory.
_JVM_FLAGS = (
    "-XX:+UseG1GC",
    "-XX:-OmitStackTraceInFastThrow",
    "-XX:+AlwaysPreTouch",
    "-XX:+UnlockExperimentalVMOptions",
    "-XX:+TrustFinalNonStaticFields",
    "-XX:+DisableExplicitGC",
    "-Djdk.nio.maxCachedBufferSize=1024",
    "-Dio.netty.tryReflectionSetAccessible=true",
    "-Djdk.tls.ephemeralDHKeySize=2048",
    "-Djdk.tls.rejectClientInitiatedRenegotiation=true",
    "-Dlog4j2.disable.jmx=true",
    "-Dfile.encoding=UTF-8",
    # Without the java.nio opens, vector index builds are reported to stall.
    "--add-opens=java.base/java.nio=ALL-UNNAMED",
    "--add-opens=java.base/java.io=ALL-UNNAMED",
    "--add-opens=java.base/sun.nio.ch=ALL-UNNAMED",
    "--enable-native-access=ALL-UNNAMED",
)


@dataclass(frozen=True, slots=True)
class ServerStatus:
    """What ``graphrag neo4j status`` reports."""

    installed: bool
    running: bool
    pid: int | None
    bolt: str
    http: str
    home: str


class Neo4jServer:
    """Install, start, stop and inspect the local server described by the ``neo4j_*`` settings."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.home = settings.neo4j_home.expanduser().resolve()
        self.lib = settings.neo4j_lib_dir.expanduser().resolve() / NEO4J_VERSION
        self.conf_dir = self.home / "conf"
        self.pid_file = self.home / "run" / "neo4j.pid"
        self.log_file = self.home / "logs" / "console.log"

    # install ----------------------------------------------------------------------------------------------
    def java(self) -> str:
        """Debian's OpenJDK 17 by absolute path (JAVA_HOME may point at another JDK that Neo4j 5.26 rejects)."""
        for candidate in _JAVA_CANDIDATES:
            if os.access(candidate, os.X_OK):
                return candidate
        raise ConfigError("OpenJDK 17 not found (apt-get install openjdk-17-jre-headless)")

    def installed(self) -> bool:
        return (self.lib / ".complete").exists()

    def install(self, attempts: int = 4) -> None:
        """Copy the server's jars from Maven Central into the home directory (once; retried on failures)."""
        if self.installed():
            return
        mvn = shutil.which("mvn")
        if mvn is None:
            raise ConfigError("Maven (mvn) is needed to fetch Neo4j's jars (apt-get install maven)")
        self.lib.mkdir(parents=True, exist_ok=True)
        command = [
            mvn,
            "-B",
            "-q",
            "-f",
            str(_POM),
            "dependency:copy-dependencies",
            "-DincludeScope=runtime",
            f"-DoutputDirectory={self.lib}",
        ]
        for attempt in range(1, attempts + 1):
            result = subprocess.run(
                command,
                capture_output=True,
                text=True,
                env={**os.environ, "JAVA_HOME": str(Path(self.java()).parent.parent)},
            )
            if result.returncode == 0:
                (self.lib / ".complete").write_text(NEO4J_VERSION + "\n", encoding="utf-8")
                return
            if attempt < attempts:
                time.sleep(10 * attempt)  # Maven Central answers 429 under load: back off and retry
        raise StoreUnavailableError(
            f"could not fetch Neo4j {NEO4J_VERSION} from Maven Central: {(result.stdout + result.stderr)[-800:]}"
        )

    def write_config(self) -> None:
        """Neo4j refuses unknown keys at start-up, so only documented keys go here."""
        s = self.settings
        for folder in (
            self.conf_dir,
            self.home / "data",
            self.home / "logs",
            self.home / "run",
            self.home / "import",
            self.home / "plugins",
        ):
            folder.mkdir(parents=True, exist_ok=True)
        lines = [
            "server.default_listen_address=127.0.0.1",
            "server.default_advertised_address=127.0.0.1",
            f"server.bolt.listen_address=127.0.0.1:{s.neo4j_bolt_port}",
            f"server.bolt.advertised_address=127.0.0.1:{s.neo4j_bolt_port}",
            f"server.http.listen_address=127.0.0.1:{s.neo4j_http_port}",
            f"server.http.advertised_address=127.0.0.1:{s.neo4j_http_port}",
            "server.https.enabled=false",
            f"dbms.security.auth_enabled={'true' if s.neo4j_auth else 'false'}",
            f"server.directories.data={self.home / 'data'}",
            f"server.directories.logs={self.home / 'logs'}",
            f"server.directories.run={self.home / 'run'}",
            f"server.directories.import={self.home / 'import'}",
            f"server.directories.plugins={self.home / 'plugins'}",
            f"server.memory.heap.initial_size={s.neo4j_heap}",
            f"server.memory.heap.max_size={s.neo4j_heap}",
            f"server.memory.pagecache.size={s.neo4j_pagecache}",
            "dbms.usage_report.enabled=false",
        ]
        (self.conf_dir / "neo4j.conf").write_text("\n".join(lines) + "\n", encoding="utf-8")

    def _env(self) -> dict:
        return {**os.environ, "NEO4J_HOME": str(self.home), "NEO4J_CONF": str(self.conf_dir)}

    def _classpath(self) -> str:
        return f"{self.conf_dir}/*:{self.lib}/*"

    def _set_initial_password(self) -> None:
        if not self.settings.neo4j_auth or (self.home / "data" / "dbms" / "auth.ini").exists():
            return
        result = subprocess.run(
            [
                self.java(),
                "-cp",
                self._classpath(),
                "org.neo4j.server.startup.Neo4jAdminCommand",
                "dbms",
                "set-initial-password",
                self.settings.neo4j_password,
            ],
            capture_output=True,
            text=True,
            env=self._env(),
            timeout=120,
        )
        if result.returncode != 0:
            raise ConfigError(f"could not set the Neo4j password: {(result.stdout + result.stderr)[-500:]}")

    # run --------------------------------------------------------------------------------------------------
    def pid(self) -> int | None:
        """The server's pid when it is alive."""
        try:
            pid = int(self.pid_file.read_text(encoding="utf-8").strip())
        except (OSError, ValueError):
            return None
        return pid if _alive(pid) else None

    def bolt_answers(self) -> bool:
        try:
            with socket.create_connection(("127.0.0.1", self.settings.neo4j_bolt_port), timeout=1):
                return True
        except OSError:
            return False

    def start(self, wait_s: float = 120.0) -> ServerStatus:
        """Install if needed, start detached, and wait until Bolt answers (or raise with the log's tail)."""
        if self.pid() is not None and self.bolt_answers():
            return self.status()
        self.install()
        self.write_config()
        self._set_initial_password()
        self.log_file.parent.mkdir(parents=True, exist_ok=True)
        command = [
            self.java(),
            f"-Xms{self.settings.neo4j_heap}",
            f"-Xmx{self.settings.neo4j_heap}",
            *_JVM_FLAGS,
            "-cp",
            self._classpath(),
            "org.neo4j.server.CommunityEntryPoint",
            f"--home-dir={self.home}",
            f"--config-dir={self.conf_dir}",
            "--console-mode",
        ]
        with self.log_file.open("ab") as log:
            process = subprocess.Popen(
                command,
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                env=self._env(),
                cwd=self.home,
                start_new_session=True,
            )
        self.pid_file.write_text(str(process.pid), encoding="utf-8")
        deadline = time.monotonic() + wait_s
        while time.monotonic() < deadline:
            if process.poll() is not None:
                raise StoreUnavailableError(f"Neo4j exited with status {process.returncode}: {self._log_tail()}")
            if self.bolt_answers():
                return self.status()
            time.sleep(0.5)
        self.stop()
        raise StoreUnavailableError(f"Neo4j did not open Bolt within {wait_s:.0f} s: {self._log_tail()}")

    def stop(self, wait_s: float = 60.0) -> bool:
        """Stop the server cleanly (SIGTERM, then SIGKILL after ``wait_s``); False when it was not running."""
        pid = self.pid()
        if pid is None:
            self.pid_file.unlink(missing_ok=True)
            return False
        os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + wait_s
        while time.monotonic() < deadline:
            if not _alive(pid):
                break
            time.sleep(0.3)
        else:
            os.kill(pid, signal.SIGKILL)
        self.pid_file.unlink(missing_ok=True)
        return True

    def status(self) -> ServerStatus:
        pid = self.pid()
        return ServerStatus(
            installed=self.installed(),
            running=pid is not None and self.bolt_answers(),
            pid=pid,
            bolt=f"bolt://127.0.0.1:{self.settings.neo4j_bolt_port}",
            http=f"http://127.0.0.1:{self.settings.neo4j_http_port}/browser/",
            home=str(self.home),
        )

    def _log_tail(self) -> str:
        try:
            return self.log_file.read_text(encoding="utf-8", errors="replace")[-1500:]
        except OSError:
            return "(no log)"


def _alive(pid: int) -> bool:
    """True while ``pid`` runs; reaps it when it is our own exited child (a zombie still answers kill(pid, 0))."""
    try:
        if os.waitpid(pid, os.WNOHANG)[0] == pid:
            return False
    except ChildProcessError:
        pass  # not our child: the kernel reaps it for us
    try:
        os.kill(pid, 0)
    except OSError:
        return False
    return True
