"""Azurite, the Azure Storage emulator: installed into `.tools/` from npm, run in memory.

Tests start one on free ports; the local run starts one on the usual ports (10000-10002).
"""

from __future__ import annotations

import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path
from types import TracebackType

ROOT = Path(__file__).resolve().parent.parent
TOOLS = ROOT / ".tools"
AZURITE_VERSION = "3.35.0"  # the newest release that supports Node 20
ACCOUNT = "devstoreaccount1"
ACCOUNT_KEY = (
    "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="
)


def executable() -> Path:
    """The project-local Azurite, installed from npm on first need."""
    binary = TOOLS / "node_modules" / ".bin" / "azurite"
    installed = TOOLS / "node_modules" / "azurite" / "package.json"
    if not binary.exists() or f'"version": "{AZURITE_VERSION}"' not in installed.read_text():
        TOOLS.mkdir(exist_ok=True)
        npm = shutil.which("npm")
        if npm is None:
            raise RuntimeError("npm is needed to install Azurite (Node.js 18 or newer)")
        subprocess.run(
            [npm, "install", "--prefix", str(TOOLS), "--no-audit", "--no-fund",
             f"azurite@{AZURITE_VERSION}"],
            check=True,
        )  # fmt: skip
    return binary


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def connection_string(blob: int, queue: int, table: int) -> str:
    base = "http://127.0.0.1"
    return (
        f"DefaultEndpointsProtocol=http;AccountName={ACCOUNT};AccountKey={ACCOUNT_KEY};"
        f"BlobEndpoint={base}:{blob}/{ACCOUNT};QueueEndpoint={base}:{queue}/{ACCOUNT};"
        f"TableEndpoint={base}:{table}/{ACCOUNT};"
    )


class Azurite:
    """One in-memory Azurite process; `connection_string` reaches its blob, queue and table."""

    def __init__(self, blob: int = 0, queue: int = 0, table: int = 0) -> None:
        self.ports = (blob or free_port(), queue or free_port(), table or free_port())
        self.connection_string = connection_string(*self.ports)
        self._process: subprocess.Popen[bytes] | None = None
        self._workspace = tempfile.TemporaryDirectory(prefix="azurite-")

    def start(self, timeout: float = 60.0) -> Azurite:
        blob, queue, table = self.ports
        self._process = subprocess.Popen(
            [str(executable()), "--inMemoryPersistence", "--silent", "--skipApiVersionCheck",
             "--disableTelemetry",
             "--blobHost", "127.0.0.1", "--blobPort", str(blob),
             "--queueHost", "127.0.0.1", "--queuePort", str(queue),
             "--tableHost", "127.0.0.1", "--tablePort", str(table)],
            cwd=self._workspace.name,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )  # fmt: skip
        deadline = time.monotonic() + timeout
        while not all(_listening(port) for port in self.ports):
            if self._process.poll() is not None:
                error = self._process.stderr.read().decode() if self._process.stderr else ""
                raise RuntimeError(f"Azurite exited at start: {error.strip()}")
            if time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"Azurite did not listen on {self.ports} in {timeout} s")
            time.sleep(0.05)
        return self

    def stop(self) -> None:
        if self._process is not None and self._process.poll() is None:
            self._process.send_signal(signal.SIGINT)  # Azurite lingers for seconds on SIGTERM
            try:
                self._process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait()
        if self._process is not None and self._process.stderr is not None:
            self._process.stderr.close()
        self._process = None
        self._workspace.cleanup()

    def __enter__(self) -> Azurite:
        return self.start()

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        self.stop()


def _listening(port: int) -> bool:
    with socket.socket() as probe:
        probe.settimeout(0.2)
        return probe.connect_ex(("127.0.0.1", port)) == 0
