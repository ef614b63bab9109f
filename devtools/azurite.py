"""Azurite, the Azure Storage emulator: installed into `.tools/` from npm, run in memory.

Tests start one on free ports; the local run starts one on the usual ports (10000-10002).
`Azurite(cert=…, key=…, oauth=True)` serves HTTPS and also accepts bearer tokens (`--oauth
basic`: issuer, audience and lifetime are checked, the signature is not), for storage by identity.
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


def connection_string(blob: int, queue: int, table: int, scheme: str = "http") -> str:
    base = f"{scheme}://127.0.0.1"
    return (
        f"DefaultEndpointsProtocol={scheme};AccountName={ACCOUNT};AccountKey={ACCOUNT_KEY};"
        f"BlobEndpoint={base}:{blob}/{ACCOUNT};QueueEndpoint={base}:{queue}/{ACCOUNT};"
        f"TableEndpoint={base}:{table}/{ACCOUNT};"
    )


class Azurite:
    """One in-memory Azurite process; `connection_string` reaches its blob, queue and table.

    With `cert` and `key` (PEM files) it serves HTTPS; `oauth` (which needs HTTPS) makes it
    accept bearer tokens besides the account key.
    """

    def __init__(
        self,
        blob: int = 0,
        queue: int = 0,
        table: int = 0,
        *,
        cert: Path | None = None,
        key: Path | None = None,
        oauth: bool = False,
    ) -> None:
        if (cert is None) != (key is None) or (oauth and cert is None):
            raise ValueError("HTTPS needs both cert and key, and OAuth needs HTTPS")
        self.ports = (blob or free_port(), queue or free_port(), table or free_port())
        self.scheme = "https" if cert else "http"
        self.connection_string = connection_string(*self.ports, scheme=self.scheme)
        self._tls = ["--cert", str(cert), "--key", str(key)] if cert else []
        self._tls += ["--oauth", "basic"] if oauth else []
        self._process: subprocess.Popen[bytes] | None = None
        self._workspace = tempfile.TemporaryDirectory(prefix="azurite-")

    def service_uri(self, service: str) -> str:
        """`blob`, `queue` or `table`'s endpoint, e.g. https://127.0.0.1:<port>/devstoreaccount1."""
        port = self.ports[("blob", "queue", "table").index(service)]
        return f"{self.scheme}://127.0.0.1:{port}/{ACCOUNT}"

    def start(self, timeout: float = 60.0) -> Azurite:
        blob, queue, table = self.ports
        self._process = subprocess.Popen(
            [str(executable()), "--inMemoryPersistence", "--silent", "--skipApiVersionCheck",
             "--disableTelemetry",
             "--blobHost", "127.0.0.1", "--blobPort", str(blob),
             "--queueHost", "127.0.0.1", "--queuePort", str(queue),
             "--tableHost", "127.0.0.1", "--tablePort", str(table), *self._tls],
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
