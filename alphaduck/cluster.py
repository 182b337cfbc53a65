"""A Dask cluster for the stages that fan out (`alphaduck train --dask`, `alphaduck sweep
--dask`): ``local`` starts one on this machine, HOST:PORT joins a running scheduler."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator

from alphaduck.errors import AlphaduckError

LOCAL = "local"  # --dask local: a LocalCluster of LOCAL_WORKERS processes on this machine
LOCAL_WORKERS = 2
CONNECT_TIMEOUT_S = 10  # a scheduler that accepts the connection but does not answer in time


def _require_dask() -> None:
    import importlib.util

    if importlib.util.find_spec("distributed") is None:
        raise AlphaduckError("--dask needs dask's distributed scheduler: pip install 'alphaduck[dask]'")


def _require_listener(address: str) -> None:
    """Refuse at once a TCP address where nothing listens (Dask's client retries a refused
    connection until its whole timeout has passed)."""
    import socket
    from urllib.parse import urlsplit

    scheme, _, rest = address.rpartition("://")
    if scheme not in ("", "tcp", "tls"):
        return  # another transport: Dask's client says what it finds
    try:
        parts = urlsplit(f"//{rest}")
        host, port = parts.hostname, parts.port
    except ValueError as exc:
        raise AlphaduckError(f"--dask {address}: expected HOST:PORT ({exc})") from exc
    if not host or port is None:
        raise AlphaduckError(f"--dask {address}: expected HOST:PORT of a Dask scheduler, e.g. 10.0.0.5:8786, or local")
    try:
        socket.create_connection((host, port), timeout=CONNECT_TIMEOUT_S).close()
    except OSError as exc:
        raise AlphaduckError(f"--dask {address}: no Dask scheduler answers there ({type(exc).__name__})") from exc


@contextlib.contextmanager
def dask_client(address: str) -> Iterator[object]:
    """A Dask client for ``address``: "local" starts a LocalCluster here (closed afterwards),
    else the scheduler at HOST:PORT, refused in one line if nothing answers there."""
    _require_dask()
    from dask.distributed import Client, LocalCluster

    if address == LOCAL:
        with LocalCluster(n_workers=LOCAL_WORKERS, threads_per_worker=1, processes=True, dashboard_address=None,
                          silence_logs=logging.ERROR) as cluster, Client(cluster) as client:  # fmt: skip
            yield client
        return
    _require_listener(address)
    try:
        client = Client(address if "://" in address else f"tcp://{address}", timeout=f"{CONNECT_TIMEOUT_S}s")
    except (OSError, TimeoutError) as exc:
        raise AlphaduckError(f"--dask {address}: no Dask scheduler answers there ({type(exc).__name__})") from exc
    with client:
        yield client


def worker_count(client) -> int:
    """How many workers the client's cluster has (at least 1)."""
    return max(1, len(client.scheduler_info().get("workers", {})))
