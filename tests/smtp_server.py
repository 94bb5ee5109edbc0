"""An SMTP test server (aiosmtpd) that keeps every message in a Maildir; run it with the SYSTEM python3.

    /usr/bin/python3 tests/smtp_server.py --maildir DIR [--port 0] [--tls CERT KEY] [--login USER:PASSWORD]

Listens on 127.0.0.1 (``--port 0``: a port the system picks) and prints ``READY <port>`` once it does.
``--tls`` offers STARTTLS and requires it before a message; ``--login`` requires AUTH with that user and
password (only after STARTTLS, as aiosmtpd insists). Messages go to the Maildir through aiosmtpd's own
Mailbox handler, which adds the envelope as ``X-MailFrom`` and ``X-RcptTo`` headers. Debian package:
python3-aiosmtpd.
"""

from __future__ import annotations

import argparse
import asyncio
import signal
import ssl

from aiosmtpd.handlers import Mailbox
from aiosmtpd.smtp import SMTP, AuthResult, LoginPassword


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--maildir", required=True)
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--tls", nargs=2, metavar=("CERT", "KEY"))
    parser.add_argument("--login")
    args = parser.parse_args()
    asyncio.run(serve(args))


async def serve(args: argparse.Namespace) -> None:
    options: dict = {"hostname": "localhost"}
    if args.tls:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(*args.tls)
        options.update(tls_context=context, require_starttls=True)
    if args.login:
        user, _, password = args.login.partition(":")
        expected = (user.encode(), password.encode())

        def authenticator(server, session, envelope, mechanism, auth_data) -> AuthResult:
            ok = isinstance(auth_data, LoginPassword) and (auth_data.login, auth_data.password) == expected
            return AuthResult(success=ok, handled=False)  # handled=False: aiosmtpd answers 535 itself

        options.update(authenticator=authenticator, auth_required=True, auth_require_tls=True)
    handler = Mailbox(args.maildir)
    loop = asyncio.get_running_loop()
    server = await loop.create_server(lambda: SMTP(handler, **options), "127.0.0.1", args.port)
    print(f"READY {server.sockets[0].getsockname()[1]}", flush=True)
    stop = asyncio.Event()
    loop.add_signal_handler(signal.SIGTERM, stop.set)
    async with server:
        await stop.wait()


if __name__ == "__main__":
    main()
