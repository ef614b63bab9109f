"""The local default transport: a Maildir of `.eml` files any mail client opens."""

from __future__ import annotations

import hashlib
import os
import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path

from shared.messages.imip import Mail
from shared.use_cases.ports import Envelope, Outgoing, TransportError


def maildir_name(mail: Mail) -> str:
    """One file name per message: a message written again (same Message-ID) finds its file."""
    seed = mail.message_id or str(uuid.uuid4())
    return hashlib.sha256(seed.encode()).hexdigest()[:40] + ".eml"


class MaildirTransport:
    """A Maildir (`tmp/`, `new/`, `cur/`) of `.eml` files any mail client opens: the local default.

    Each message is written to `tmp/`, flushed to disk, then linked into `new/` under a name
    that follows from its Message-ID. Linking never replaces a file, so a message written twice
    (a worker that died between writing it and recording it) is still one file.
    """

    def __init__(self, root: Path) -> None:
        self.root = root

    @contextmanager
    def session(self) -> Iterator[Outgoing]:
        for folder in ("tmp", "new", "cur"):
            (self.root / folder).mkdir(parents=True, exist_ok=True)
        yield self

    def delivered(self, name: str) -> bool:
        """In `new/`, or already moved to `cur/` by a mail client (which appends `:2,<flags>`).
        `cur/` is read as it is, with no pattern: a glob compiled a new one for every name."""
        if (self.root / "new" / name).exists():
            return True
        moved = f"{name}:"
        try:
            with os.scandir(self.root / "cur") as entries:
                return any(entry.name.startswith(moved) for entry in entries)
        except FileNotFoundError:
            return False

    def send(self, mail: Mail, envelope: Envelope) -> None:
        name = maildir_name(mail)
        if self.delivered(name):
            return
        temporary = self.root / "tmp" / f"{name}.{os.getpid()}.{threading.get_ident()}"
        try:
            with open(temporary, "wb") as file:
                file.write(mail.data)
                file.flush()
                os.fsync(file.fileno())
            with suppress(FileExistsError):
                os.link(temporary, self.root / "new" / name)
        except OSError as error:
            raise TransportError(f"maildir {self.root}: {error}") from error
        finally:
            with suppress(FileNotFoundError):
                temporary.unlink()
