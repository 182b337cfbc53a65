"""A Dask cluster for the stages that fan out (`alphaduck train --dask`, `alphaduck sweep
--dask`): ``local`` starts one on this machine, HOST:PORT joins a running scheduler."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator

from alphaduck.errors import AlphaduckError

LOCAL = "local"  # --dask local: a LocalCluster of LOCAL_WORKERS processes on this machine
LOCAL_WORKERS = 2


def _require_dask() -> None:
    import importlib.util

    if importlib.util.find_spec("distributed") is None:
        raise AlphaduckError("--dask needs dask's distributed scheduler: pip install 'alphaduck[dask]'")


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
    try:
        client = Client(address if "://" in address else f"tcp://{address}", timeout="10s")
    except (OSError, TimeoutError) as exc:
        raise AlphaduckError(f"--dask {address}: no Dask scheduler answers there ({type(exc).__name__})") from exc
    with client:
        yield client


def worker_count(client) -> int:
    """How many workers the client's cluster has (at least 1)."""
    return max(1, len(client.scheduler_info().get("workers", {})))
