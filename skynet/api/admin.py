"""Logging in and out, stream tickets, the audit log, and background jobs."""

# No ``from __future__ import annotations``: FastAPI reads the routes' annotations at run time.

import logging
from dataclasses import replace
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Query, Request, Response, status
from fastapi import Path as PathParam
from fastapi.security import HTTPAuthorizationCredentials
from starlette.concurrency import run_in_threadpool

from skynet.accounts.credentials import authenticate_password, hash_token, issue_token
from skynet.accounts.errors import AuthError
from skynet.accounts.model import Permission, User
from skynet.accounts.throttle import LoginThrottled
from skynet.api.account_schemas import LoginRequest, TokenResponse
from skynet.api.auth import bearer, client_address
from skynet.api.deps import AuthOf, auditor_of, current_user, job_service, require, revoke_current
from skynet.api.schemas import AuditOut, ErrorBody, JobOut, JobRequest, ReindexRequest
from skynet.api.tickets import StreamTicketOut, StreamTicketRequest
from skynet.api.time_range import TimeRange, query_time_range
from skynet.records import JobState
from skynet.services.audit import Auditor
from skynet.services.jobs import REEMBED, REINDEX, JobService, started_with

JobId = Annotated[int, PathParam(ge=1, le=2**62)]
Audit = Annotated[Auditor, Depends(auditor_of)]
Jobs = Annotated[JobService, Depends(job_service)]
JobStarter = Annotated[User, Depends(require(Permission.START_JOBS))]

log = logging.getLogger(__name__)

router = APIRouter(responses={c: {"model": ErrorBody} for c in (400, 401, 403, 404)})


@router.post(
    "/api/login",
    response_model=TokenResponse,
    tags=["auth"],
    responses={
        429: {
            "model": ErrorBody,
            "description": "Too many failed logins from this address or for this user name.",
            "headers": {"Retry-After": {"description": "Seconds until the next try.", "schema": {"type": "integer"}}},
        }
    },
)
async def login(body: LoginRequest, request: Request, auth: AuthOf, auditor: Audit) -> TokenResponse:
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
        detail = {"client": client, "error": error.message}
        await run_in_threadpool(auditor.record, body.user, "auth.login_failed", None, detail)
        raise

    def issue() -> TokenResponse:
        token, record = issue_token(auth.store, user, auth.clock(), label="login")
        auditor.record(replace(user, token=record), "auth.login", None, {"client": client, "token_id": record.id})
        return TokenResponse(token=token, expires_at=record.expires_at, user=user.name, role=user.role.value)

    return await run_in_threadpool(issue)


@router.post("/api/logout", status_code=status.HTTP_204_NO_CONTENT, tags=["auth"])
def logout(user: Annotated[User, Depends(revoke_current)], auditor: Audit) -> Response:
    """Revoke the token this request was sent with."""
    auditor.record(user, "auth.logout", None, {})
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.post("/api/stream-tickets", response_model=StreamTicketOut, status_code=status.HTTP_201_CREATED, tags=["auth"])
def stream_ticket(
    body: StreamTicketRequest,
    user: Annotated[User, Depends(current_user)],
    credentials: Annotated[HTTPAuthorizationCredentials, Depends(bearer)],
    auth: AuthOf,
) -> StreamTicketOut:
    """A ticket that opens one stream (``/api/live`` or ``/api/cameras/{id}/preview``) once, within
    30 s, as ``?ticket=``: for clients that cannot send the Authorization header there (browsers'
    WebSockets, ``<img>``), so that no API token is ever put in a URL. The stream checks the token
    and the user's role again when the ticket is used."""
    ticket, grant = auth.tickets.issue(user.name, hash_token(credentials.credentials), body.path)
    return StreamTicketOut(ticket=ticket, path=grant.path, expires_at=grant.expires_at)


@router.get("/api/audit", response_model=list[AuditOut], tags=["audit"])
def audit_log(
    user: Annotated[User, Depends(require(Permission.READ_AUDIT))],
    auditor: Audit,
    period: Annotated[TimeRange, Depends(query_time_range)],
    limit: Annotated[int, Query(ge=1, le=10_000)] = 100,
    actor: Annotated[str | None, Query(max_length=200, description="Only this user's events.")] = None,
    action: Annotated[
        str | None,
        Query(
            max_length=100,
            description=("Only this action, or the actions under it: 'search' matches 'search.face'."),
        ),
    ] = None,
) -> list[AuditOut]:
    """The newest audit events first: who did what, when, and why. The log is append-only: no route
    changes or deletes an event, and the database refuses updates and deletes."""
    events = auditor.events(limit, actor=actor, action=action, since=period.since, until=period.until)
    return [AuditOut.of(e) for e in events]


@router.post("/api/jobs/reindex", response_model=JobOut, status_code=status.HTTP_202_ACCEPTED, tags=["jobs"])
async def start_reindex(body: ReindexRequest, request: Request, user: JobStarter, jobs: Jobs, auth: AuthOf) -> JobOut:
    """Re-index archive files (or directories of them) under the archive roots as ``camera``, in the background
    (directories are walked by the job). ``force`` redoes files already done, deleting their sightings and
    alerts but held evidence first: admins only."""
    if body.force:
        await auth.permitted(request, user, Permission.DELETE_EVIDENCE)
    params = body.model_dump(exclude={"reason"})
    return JobOut.of(await run_in_threadpool(jobs.start, user, REINDEX, body.reason, params))


@router.post(
    "/api/jobs/reembed",
    response_model=JobOut,
    status_code=status.HTTP_202_ACCEPTED,
    tags=["jobs"],
    responses={c: {"model": ErrorBody} for c in (409, 503)},
)
def start_reembed(body: JobRequest, user: JobStarter, jobs: Jobs) -> JobOut:
    """Re-embed every stored face and watch-list entry with the configured model pack's face model,
    then switch face search to it (a server started after a pack switch starts this by itself)."""
    return JobOut.of(jobs.start(user, REEMBED, body.reason))


@router.get("/api/jobs", response_model=list[JobOut], tags=["jobs"])
def list_jobs(
    user: JobStarter,
    jobs: Jobs,
    state: Annotated[Literal["queued", "running", "done", "failed", "cancelled"] | None, Query()] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
) -> list[JobOut]:
    """The newest jobs (of one ``state`` when given), newest first, with their progress."""
    return [JobOut.of(job) for job in jobs.latest(limit, JobState(state) if state else None)]


@router.get("/api/jobs/{job_id}", response_model=JobOut, tags=["jobs"])
def get_job(job_id: JobId, user: JobStarter, jobs: Jobs) -> JobOut:
    """A job's state and progress: files done of total, frames read, sightings, errors."""
    return JobOut.of(jobs.get(job_id))


@router.post("/api/jobs/{job_id}/cancel", response_model=JobOut, tags=["jobs"], responses={409: {"model": ErrorBody}})
async def cancel_job(
    job_id: JobId,
    body: JobRequest,
    request: Request,
    user: Annotated[User, Depends(current_user)],
    jobs: Jobs,
    auth: AuthOf,
) -> JobOut:
    """Cancel a queued or running job (admins, and whoever may start its kind), audited with the reason. A queued
    job never starts; a running one stops within a second or so and keeps what it committed (files re-indexed,
    faces re-embedded, rows imported): its progress shows where it stopped, and the same job asked for again
    resumes there. 409 for a job that has finished."""
    job = await run_in_threadpool(jobs.get, job_id)
    await auth.permitted(request, user, started_with(job.kind))
    return JobOut.of(await run_in_threadpool(jobs.cancel, user, job_id, body.reason))
