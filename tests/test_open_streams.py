"""Open streams end when their token stops counting: revoked or its user changed by another process (found by
the periodic check), a role change, or the token's expiry (at that moment)."""

from __future__ import annotations

import asyncio
import time
from dataclasses import replace

from skynet.accounts.credentials import authenticate_token, issue_token
from skynet.accounts.model import MemoryUserStore, Role, User
from skynet.api.open_streams import EXPIRED, REVOKED, OpenStreams


def _signed_in(store: MemoryUserStore, name: str, ttl_s: float | None = 3600) -> User:
    user = store.get_user(name) or store.add_user(User(name, Role.INVESTIGATOR, 0.0))
    token, _ = issue_token(store, user, time.time(), ttl_s)
    return authenticate_token(store, token, time.time())


def test_streams_end_on_changes_by_another_process_role_changes_and_expiry() -> None:
    async def scenario() -> None:
        store = MemoryUserStore()
        streams = OpenStreams(store, time.time)
        checking = asyncio.create_task(streams.keep_checking(every_s=0.05))
        ann, bob, eve = _signed_in(store, "ann"), _signed_in(store, "bob"), _signed_in(store, "eve", ttl_s=0.3)
        with streams.opened(ann) as a, streams.opened(bob) as b, streams.opened(eve) as e:
            assert streams.count == 3 and await a.ended(0.1) is None
            store.revoke_token(ann.token.token_hash)  # as the CLI would, in another process: no signal
            assert await asyncio.wait_for(a.ended(), 1.0) == REVOKED
            store.update_user(replace(bob, role=Role.OPERATOR))
            assert "changed to operator" in await asyncio.wait_for(b.ended(), 1.0)
            started = time.monotonic()
            assert await e.ended() == EXPIRED and time.monotonic() - started < 0.5
        assert streams.count == 0
        checking.cancel()

    asyncio.run(scenario())
