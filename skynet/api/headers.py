"""Headers on every answer: ``X-Content-Type-Options: nosniff`` (a browser never guesses another type than
the one sent, e.g. runs a JSON answer or an image as a script), and ``Cache-Control: no-store`` unless a
route chose its own, so that no answer (personal data, face images, tokens) is kept in a browser's or a
proxy's cache. The web UI's static files set ``no-cache`` (kept, revalidated)."""

from __future__ import annotations

from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send


class SecurityHeaders:
    """An ASGI middleware adding the headers above to every HTTP answer."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                headers["X-Content-Type-Options"] = "nosniff"
                if "cache-control" not in headers:
                    headers["Cache-Control"] = "no-store"
            await send(message)

        await self.app(scope, receive, send_with_headers)
