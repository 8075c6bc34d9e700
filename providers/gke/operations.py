"""Run blocking SDK calls off the event loop, retry transient failures, await operations.

* :func:`call` runs one blocking client method in a worker thread (``asyncio.to_thread``)
  under ``asyncio.timeout``, translates failures with :func:`~providers.gke.errors.translate_error`
  and retries :class:`~providers.errors.ProviderUnavailableError` with ``tenacity`` (full-jitter
  exponential backoff, bounded attempts). Stockouts and quota errors are never retried here:
  they go back to the caller, whose obtainability memory decides what to try next.
* :func:`wait_for_operation` polls a ClusterManager ``Operation`` until it is ``DONE``, under
  the configured operation timeout, and returns it; the caller inspects its error.

The SDK's own retry is switched off (``retry=None`` at each call site) so there is exactly one
retry policy, this one.
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Callable
from typing import TypeVar

import structlog
from google.cloud import compute_v1, container_v1
from tenacity import (
    AsyncRetrying,
    retry_if_exception_type,
    stop_after_attempt,
    wait_random_exponential,
)

from providers.errors import ProviderUnavailableError
from providers.gke.config import GKEConfig
from providers.gke.errors import translate_error

T = TypeVar("T")
log = structlog.get_logger(__name__)

_DONE = container_v1.Operation.Status.DONE


async def call(
    fn: Callable[[], T], *, config: GKEConfig, what: str, zone: str = "", retry: bool = True
) -> T:
    """Run ``fn`` (a blocking SDK call) in a thread, bounded, translated and retried.

    Args:
        fn: a zero-argument callable doing one API call.
        config: timing and retry settings.
        what: a stable event name for logs (``container.create_node_pool``).
        zone: the zone the call concerns, for error scope.
        retry: retry transient failures (off for calls that are not idempotent on retry).

    Returns:
        ``fn()``'s result.

    Raises:
        ProviderError: the translated failure (after retries for transient ones).
    """
    attempts = config.retry_attempts if retry else 1
    retrying = AsyncRetrying(
        stop=stop_after_attempt(attempts),
        wait=wait_random_exponential(multiplier=config.retry_initial_s, max=config.retry_max_s),
        retry=retry_if_exception_type(ProviderUnavailableError),
        reraise=True,
        before_sleep=lambda state: log.info(
            "gke.call_retry",
            call=what,
            attempt=state.attempt_number,
            reason=getattr(state.outcome.exception() if state.outcome else None, "reason", ""),
        ),
    )
    async for attempt in retrying:
        with attempt:
            try:
                async with asyncio.timeout(config.call_timeout_s):
                    return await asyncio.to_thread(fn)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                error = translate_error(exc, zone=zone)
                log.debug("gke.call_failed", call=what, reason=error.reason, zone=zone)
                raise error from exc
    raise AssertionError("unreachable: tenacity reraises the last error")  # pragma: no cover


async def wait_for_operation(
    client: container_v1.ClusterManagerClient,
    operation: container_v1.Operation,
    *,
    config: GKEConfig,
    zone: str = "",
) -> container_v1.Operation:
    """Poll ``operation`` until it is ``DONE`` and return the finished operation.

    Polls never block the event loop (each ``get_operation`` runs in a thread and transient
    poll failures are retried). The whole wait is bounded by ``config.operation_timeout_s``.

    Raises:
        ProviderUnavailableError: the operation did not finish in time (``reason`` =
            ``OPERATION_TIMEOUT``); it may still finish later on the cloud side.
        ProviderError: a poll failed for a non-transient reason.
    """
    name = config.operation_path(operation.name)
    current = operation
    try:
        async with asyncio.timeout(config.operation_timeout_s):
            while current.status != _DONE:
                await asyncio.sleep(config.poll_interval_s)
                current = await call(
                    lambda: client.get_operation(
                        name=name, retry=None, timeout=config.call_timeout_s
                    ),
                    config=config,
                    what="container.get_operation",
                    zone=zone,
                )
    except TimeoutError as exc:
        raise ProviderUnavailableError(
            f"operation {operation.name} ({operation.operation_type.name}) did not finish within "
            f"{config.operation_timeout_s:.0f}s; it may still complete",
            scope="zone",
            location=zone,
            reason="OPERATION_TIMEOUT",
        ) from exc
    return current


async def wait_for_zone_operation(
    zone_operations: compute_v1.ZoneOperationsClient,
    operation: compute_v1.Operation,
    *,
    config: GKEConfig,
    project: str,
    zone: str,
) -> None:
    """Poll a Compute Engine zone operation until ``DONE``.

    Polls go through ccc's own ``ZoneOperationsClient`` (not the SDK's ``ExtendedOperation``,
    whose poller builds a client of its own for Google's default endpoint).

    Raises:
        ProviderUnavailableError: not done within ``config.operation_timeout_s``.
        ProviderError: the operation finished with an error (translated).
    """
    current = operation
    try:
        async with asyncio.timeout(config.operation_timeout_s):
            while current.status != compute_v1.Operation.Status.DONE:
                await asyncio.sleep(config.poll_interval_s)
                current = await call(
                    functools.partial(
                        zone_operations.get,
                        project=project,
                        zone=zone,
                        operation=operation.name,
                        retry=None,
                        timeout=config.call_timeout_s,
                    ),
                    config=config,
                    what="compute.zone_operations.get",
                    zone=zone,
                )
    except TimeoutError as exc:
        raise ProviderUnavailableError(
            f"zone operation {operation.name} did not finish within "
            f"{config.operation_timeout_s:.0f}s; it may still complete",
            scope="zone",
            location=zone,
            reason="OPERATION_TIMEOUT",
        ) from exc
    if current.error.errors:
        raise translate_error(current, zone=zone)
