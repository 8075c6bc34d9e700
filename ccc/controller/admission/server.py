"""The webhook's HTTPS endpoint: ``POST /mutate-pods`` (AdmissionReview v1).

A thin aiohttp server on its own port next to the metrics port. The TLS context is created
once; a new serving certificate is loaded into it in place (:meth:`WebhookServer.load`), so
new connections present the new certificate and open ones are not disturbed.

``ssl.SSLContext.load_cert_chain`` reads files only, so each pair is written to a private
temporary directory (mode 0700, the chart's ``/tmp`` emptyDir in a pod), loaded and deleted at
once: the key lives on disk for the duration of one call.
"""

from __future__ import annotations

import json
import os
import ssl
import tempfile
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import structlog
from aiohttp import web

from ccc.controller.admission.pki import Pair
from ccc.controller.admission.review import BadReview

log = structlog.get_logger("ccc.webhook.server")

PATH = "/mutate-pods"
_MAX_BODY = 8 * 2**20  # the API server sends whole pods; 8 MiB is far above any real one

Handler = Callable[[Any], Awaitable[dict[str, Any]]]


class WebhookServer:
    """Serves ``handler`` over TLS on ``host:port`` (0: any free port, see :attr:`port`)."""

    def __init__(self, host: str, port: int, *, handler: Handler) -> None:
        self._host = host
        self._requested_port = port
        self._port = port
        self._handler = handler
        self._runner: web.AppRunner | None = None
        self._context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self._context.minimum_version = ssl.TLSVersion.TLSv1_2
        self._loaded = False

    @property
    def port(self) -> int:
        return self._port

    @property
    def serving(self) -> bool:
        return self._runner is not None

    def load(self, pair: Pair) -> None:
        """Present ``pair`` on every new connection from now on.

        Raises:
            ssl.SSLError: the certificate and key do not match or do not parse.
        """
        with tempfile.TemporaryDirectory(prefix="ccc-webhook-") as tmp:
            cert, key = Path(tmp) / "tls.crt", Path(tmp) / "tls.key"
            for path, data in ((cert, pair.cert), (key, pair.key)):
                fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
                with os.fdopen(fd, "wb") as f:
                    f.write(data)
            self._context.load_cert_chain(cert, key)
        self._loaded = True

    async def start(self) -> None:
        """Bind and serve; call after the first :meth:`load`.

        Raises:
            RuntimeError: no certificate loaded yet, or already started.
            OSError: the address cannot be bound.
        """
        if not self._loaded:
            raise RuntimeError("no serving certificate loaded")
        if self._runner is not None:
            raise RuntimeError("WebhookServer already started")
        app = web.Application(client_max_size=_MAX_BODY)
        app.router.add_post(PATH, self._review)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        try:
            site = web.TCPSite(runner, self._host, self._requested_port, ssl_context=self._context)
            await site.start()
        except BaseException:
            await runner.cleanup()
            raise
        self._runner = runner
        self._port = int(runner.addresses[0][1])
        log.info("webhook.serving", host=self._host, port=self._port, path=PATH)

    async def stop(self) -> None:
        """Stop serving. Idempotent."""
        runner, self._runner = self._runner, None
        if runner is not None:
            await runner.cleanup()

    async def _review(self, request: web.Request) -> web.Response:
        try:
            body = await request.json()
        except (ValueError, UnicodeDecodeError):
            return web.Response(status=400, text="body is not JSON\n")
        try:
            answer = await self._handler(body)
        except BadReview as exc:
            return web.Response(status=400, text=f"{exc}\n")
        except Exception as exc:
            # The API server applies the webhook's failurePolicy to a failed call.
            log.warning("admission.failed", error=str(exc)[:300])
            return web.Response(status=500, text="admission failed; see the ccc log\n")
        return web.Response(body=json.dumps(answer).encode(), content_type="application/json")
