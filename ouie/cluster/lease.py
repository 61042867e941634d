"""One holder at a time: a lease in a NATS KV bucket, for the cluster's singletons (the audit
appender, the notifier).

The lease is the key `holder` of a bucket whose entries expire after `ttl_s` (R = the
cluster's replicas). A contender tries to *create* the key every ttl_s / 3 (it fails while the
key exists); the holder renews it every ttl_s / 3 by an *update on the revision it holds*. So:

- a holder killed (-9) stops renewing; its entry expires 2/3 to 1 TTL later, and a contender
  creates it within ttl_s / 3 after that;
- a holder that sees a wrong revision (another created the key after its own expired) stops
  holding at once; one whose renewals fail for a whole TTL (cut off from the cluster) stops
  too, since another may hold it by then;
- a clean stop deletes the key: a contender takes over at its next try.

Two processes can still both believe they hold it for up to a TTL (one paused); the work done
under a lease must therefore be safe when repeated or raced (each user says how).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable

from nats.js import JetStreamContext
from nats.js.api import KeyValueConfig
from nats.js.errors import KeyWrongLastSequenceError
from nats.js.kv import KeyValue

from ouie.cluster.config import ClusterConfig
from ouie.cluster.streams import connect, ensure_streams, when_placed

log = logging.getLogger(__name__)

HOLDER_KEY = "holder"


async def lease_bucket(
    js: JetStreamContext, bucket: str, ttl_s: float, replicas: int, timeout_s: float = 60.0
) -> KeyValue:
    """The lease bucket (created by the first process), tried again while the cluster forms."""
    config = KeyValueConfig(bucket=bucket, ttl=ttl_s, replicas=replicas)
    return await when_placed(lambda: js.create_key_value(config), timeout_s)


async def while_holding(
    kv: KeyValue,
    holder_id: str,
    ttl_s: float,
    work: Callable[[asyncio.Event], Awaitable[None]],
    stop: asyncio.Event,
) -> int:
    """Until `stop`: take the lease whenever it is free and run `work(lost)` while holding it
    (`lost` is set when the lease is lost; `work` must return then, or at `stop`). Returns how
    many times it took the lease."""
    taken = 0
    while not stop.is_set():
        revision = await _acquire(kv, holder_id)
        if revision is None:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), ttl_s / 3)
            continue
        taken += 1
        log.info("%s holds the lease", holder_id)
        lost = asyncio.Event()
        renew = asyncio.create_task(_renew(kv, holder_id, ttl_s, revision, lost, stop))
        try:
            await work(lost)
        finally:
            renew.cancel()
    with contextlib.suppress(Exception):  # hand over at once on a clean stop
        entry = await kv.get(HOLDER_KEY)
        if entry.value == holder_id.encode():
            await kv.delete(HOLDER_KEY)
    return taken


async def _acquire(kv: KeyValue, holder_id: str) -> int | None:
    """The lease's revision if `holder_id` now holds it; None if another does or the bucket
    does not answer."""
    try:
        return int(await kv.create(HOLDER_KEY, holder_id.encode()))
    except KeyWrongLastSequenceError:
        return None
    except Exception as error:
        log.info("%s: lease bucket unavailable (%r)", holder_id, error)
        return None


async def _renew(
    kv: KeyValue,
    holder_id: str,
    ttl_s: float,
    revision: int,
    lost: asyncio.Event,
    stop: asyncio.Event,
) -> None:
    """Renew every ttl_s / 3 until the lease is lost (module docstring) or `stop`."""
    renewed = time.monotonic()
    while not stop.is_set():
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), ttl_s / 3)
        try:
            revision = await kv.update(HOLDER_KEY, holder_id.encode(), last=revision)
            renewed = time.monotonic()
        except KeyWrongLastSequenceError:
            log.warning("%s: lease taken over", holder_id)
            lost.set()
            return
        except Exception as error:
            if time.monotonic() - renewed > ttl_s:
                log.warning("%s: lease lapsed (%r)", holder_id, error)
                lost.set()
                return


async def hold_and_run(
    cluster: ClusterConfig,
    client_name: str,
    bucket: str,
    holder_id: str,
    work: Callable[[JetStreamContext, asyncio.Event], Awaitable[None]],
    stop: asyncio.Event,
) -> None:
    """A cluster singleton's life: connect as `client_name`, make sure the streams exist, and run
    `work(js, lost)` whenever it holds `bucket`'s lease (`while_holding`), until `stop`; the
    connection is closed on the way out."""
    nc = await connect(cluster, client_name)
    js = nc.jetstream(timeout=5)
    await ensure_streams(js, cluster)
    kv = await lease_bucket(js, bucket, cluster.lease_ttl_s, cluster.replicas)
    try:
        await while_holding(kv, holder_id, cluster.lease_ttl_s, lambda lost: work(js, lost), stop)
    finally:
        with contextlib.suppress(Exception):
            await nc.close()
