"""Fixtures every test layer shares: one Azurite for the session, a dev signing key."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from devtools.azurite import Azurite
from devtools.tokens import DevKey, ensure_dev_key


@pytest.fixture(scope="session")
def azurite() -> Iterator[Azurite]:
    """A real Azure Storage emulator, in memory, on free ports."""
    with Azurite() as emulator:
        yield emulator


@pytest.fixture(scope="session")
def dev_key(tmp_path_factory: pytest.TempPathFactory) -> DevKey:
    return ensure_dev_key(Path(tmp_path_factory.mktemp("dev-key")))
