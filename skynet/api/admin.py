"""Logging in and out, the audit log, and background jobs."""

# No ``from __future__ import annotations``: FastAPI reads the routes' annotations at run time.

import logging
from pathlib import Path
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Query, Request, Response, status
from fastapi import Path as PathParam
from fastapi.security import HTTPAuthorizationCredentials
from starlette.concurrency import run_in_threadpool

from skynet.accounts.credentials import authenticate_password, hash_token, issue_token
from skynet.accounts.errors import AuthError
from skynet.accounts.model import Permission, User
from skynet.accounts.throttle import LoginThrottled
from skynet.api.auth import bearer, client_address
from skynet.api.schemas import AuditOut, ErrorBody, JobOut, LoginRequest, ReindexRequest, TokenResponse
from skynet.api.services import Services
from skynet.api.tickets import StreamTicketOut, StreamTicketRequest
from skynet.errors import ConflictError, InvalidInputError, NotFoundError, UnavailableError
from skynet.records import AuditEvent, JobState

JobId = Annotated[int, PathParam(ge=1, le=2**62)]

log = logging.getLogger(__name__)


def router(services: Services) -> APIRouter:
    api = APIRouter(responses={c: {"model": ErrorBody} for c in (400, 401, 403, 404)})
    auth = services.auth
    store = services.catalog.store

    @api.post(
        "/api/login",
        response_model=TokenResponse,
        tags=["auth"],
        responses={
            429: {
                "model": ErrorBody,
                "description": "Too many failed logins from this address or for this user name.",
                "headers": {
                    "Retry-After": {"description": "Seconds until the next try.", "schema": {"type": "integer"}}
                },
            }
        },
    )
    async def login(body: LoginRequest, request: Request) -> TokenResponse:
        """A new API token for a user name and password. After 5 failed logins within a minute (the defaults)
        from one address or for one user name, tries answer 429 until the oldest failure leaves the window
        (Retry-After says when). Every login and failed login is audited, never with the password."""
        client = client_address(request)
        try:
            with auth.login_throttle.attempt(client, body.user):
                user = await run_in_threadpool(authenticate_password, auth.store, body.user, body.password)
        except LoginThrottled as error:
            log.warning("login for %r from %s refused: %s", body.user, client, error.message)
            raise
        except AuthError as error:
            log.warning("failed login for %r from %s: %s", body.user, client, error.message)
            await run_in_threadpool(
                store.audit.append,
                AuditEvent(
                    services.clock(), body.user, "auth.login_failed", None, {"client": client, "error": error.message}
                ),
            )
            raise
        return await run_in_threadpool(issue, user, client)

    def issue(user: User, client: str) -> TokenResponse:
        token, record = issue_token(auth.store, user, auth.clock(), label="login")
        services.audit(user, "auth.login", None, {"client": client, "token_id": record.id})
        return TokenResponse(token=token, expires_at=record.expires_at, user=user.name, role=user.role.value)

    @api.post("/api/logout", status_code=status.HTTP_204_NO_CONTENT, tags=["auth"])
    def logout(user: Annotated[User, Depends(auth.revoke_current)]) -> Response:
        """Revoke the token this request was sent with."""
        services.audit(user, "auth.logout", None, {})
        return Response(status_code=status.HTTP_204_NO_CONTENT)

    @api.post("/api/stream-tickets", response_model=StreamTicketOut, status_code=status.HTTP_201_CREATED, tags=["auth"])
    def stream_ticket(
        body: StreamTicketRequest,
        user: Annotated[User, Depends(auth.current_user)],
        credentials: Annotated[HTTPAuthorizationCredentials, Depends(bearer)],
    ) -> StreamTicketOut:
        """A ticket that opens one stream (``/api/live`` or ``/api/cameras/{id}/preview``) once, within
        30 s, as ``?ticket=``: for clients that cannot send the Authorization header there (browsers'
        WebSockets, ``<img>``), so that no API token is ever put in a URL. The stream checks the token
        and the user's role again when the ticket is used."""
        ticket, grant = auth.tickets.issue(user.name, hash_token(credentials.credentials), body.path)
        return StreamTicketOut(ticket=ticket, path=grant.path, expires_at=grant.expires_at)

    @api.get("/api/audit", response_model=list[AuditOut], tags=["audit"])
    def audit_log(
        user: Annotated[User, Depends(auth.require(Permission.READ_AUDIT))],
        limit: Annotated[int, Query(ge=1, le=10_000)] = 100,
        actor: Annotated[str | None, Query(max_length=200, description="Only this user's events.")] = None,
        action: Annotated[
            str | None,
            Query(
                max_length=100,
                description=("Only this action, or the actions under it: 'search' matches 'search.face'."),
            ),
        ] = None,
        since: Annotated[float | None, Query(description="Not before (Unix seconds).")] = None,
        until: Annotated[float | None, Query(description="Not after (Unix seconds).")] = None,
    ) -> list[AuditOut]:
        """The newest audit events first: who did what, when, and why. The log is append-only: no route
        changes or deletes an event, and the database refuses updates and deletes."""
        events = store.audit.events(limit, actor=actor, action=action, since=since, until=until)
        return [AuditOut.of(e) for e in events]

    @api.post("/api/jobs/reindex", response_model=JobOut, status_code=status.HTTP_202_ACCEPTED, tags=["jobs"])
    def start_reindex(
        body: ReindexRequest, user: Annotated[User, Depends(auth.require(Permission.START_JOBS))]
    ) -> JobOut:
        """Re-index archive files (or directories of them) on the server as ``camera``, in the background."""
        if services.make_reindexer is None:
            raise UnavailableError("this server runs no re-index jobs")
        if body.camera not in {c.id for c in store.cameras.all()}:
            raise InvalidInputError(f"unknown camera {body.camera!r}", "add it first")
        paths = [Path(p) for p in body.paths]
        missing = [str(p) for p in paths if not p.exists()]
        if missing:
            raise InvalidInputError(f"not found on the server: {', '.join(missing[:5])}")
        job = services.jobs.start_reindex(
            services.make_reindexer(), user.name, paths, body.camera, body.start, body.force
        )
        services.audit(user, "job.reindex", None, {"job": job.id, **job.params})
        return JobOut.of(job)

    @api.post(
        "/api/jobs/reembed",
        response_model=JobOut,
        status_code=status.HTTP_202_ACCEPTED,
        tags=["jobs"],
        responses={c: {"model": ErrorBody} for c in (409, 503)},
    )
    def start_reembed(user: Annotated[User, Depends(auth.require(Permission.START_JOBS))]) -> JobOut:
        """Re-embed every stored face and watch-list entry with the configured model pack's face model,
        then switch face search to it (a server started after a pack switch starts this by itself)."""
        if services.start_reembedding is None:
            raise UnavailableError("this server runs no re-embedding jobs")
        job = services.start_reembedding(user.name)
        if job is None:
            raise ConflictError(
                f"face search already uses the configured model {services.catalog.face_model}: nothing to re-embed"
            )
        services.audit(user, "job.reembed", None, {"job": job.id, **job.params})
        return JobOut.of(job)

    @api.get("/api/jobs", response_model=list[JobOut], tags=["jobs"])
    def list_jobs(
        user: Annotated[User, Depends(auth.require(Permission.START_JOBS))],
        state: Annotated[Literal["queued", "running", "done", "failed"] | None, Query()] = None,
        limit: Annotated[int, Query(ge=1, le=500)] = 50,
    ) -> list[JobOut]:
        """The newest jobs (of one ``state`` when given), newest first, with their progress."""
        return [JobOut.of(job) for job in store.jobs.latest(limit, JobState(state) if state else None)]

    @api.get("/api/jobs/{job_id}", response_model=JobOut, tags=["jobs"])
    def get_job(job_id: JobId, user: Annotated[User, Depends(auth.require(Permission.START_JOBS))]) -> JobOut:
        """A job's state and progress: files done of total, frames read, sightings, errors."""
        job = store.jobs.get(job_id)
        if job is None:
            raise NotFoundError(f"no job with id {job_id}")
        return JobOut.of(job)

    return api
