"""Logging in and out, the audit log, and background jobs."""

# No ``from __future__ import annotations``: FastAPI reads the routes' annotations at run time.

from pathlib import Path
from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Path as PathParam, Query, Response, status
from starlette.concurrency import run_in_threadpool

from skynet.api.auth import AuthError, Permission, User, authenticate_password, issue_token
from skynet.api.schemas import AuditOut, ErrorBody, JobOut, LoginRequest, ReindexRequest, TokenResponse
from skynet.api.services import Services

JobId = Annotated[int, PathParam(ge=1, le=2**62)]


def router(services: Services) -> APIRouter:
    api = APIRouter(responses={c: {"model": ErrorBody} for c in (400, 401, 403, 404)})
    auth = services.auth
    store = services.catalog.store

    @api.post("/api/login", response_model=TokenResponse, tags=["auth"])
    async def login(body: LoginRequest) -> TokenResponse:
        """A new API token for a user name and password."""
        try:
            user = await run_in_threadpool(authenticate_password, auth.store, body.user, body.password)
        except AuthError as error:
            raise HTTPException(status.HTTP_401_UNAUTHORIZED, error.message) from None
        token, record = issue_token(auth.store, user, auth.clock(), label="login")
        return TokenResponse(token=token, expires_at=record.expires_at, user=user.name, role=user.role.value)

    @api.post("/api/logout", status_code=status.HTTP_204_NO_CONTENT, tags=["auth"])
    def logout(user: Annotated[User, Depends(auth.revoke_current)]) -> Response:
        """Revoke the token this request was sent with."""
        return Response(status_code=status.HTTP_204_NO_CONTENT)

    @api.get("/api/audit", response_model=list[AuditOut], tags=["audit"])
    def audit_log(user: Annotated[User, Depends(auth.require(Permission.READ_AUDIT))],
                  limit: Annotated[int, Query(ge=1, le=10_000)] = 100) -> list[AuditOut]:
        """The newest audit events first: who did what, when, and why."""
        return [AuditOut.of(e) for e in store.audit_events(limit)]

    @api.post("/api/jobs/reindex", response_model=JobOut, status_code=status.HTTP_202_ACCEPTED, tags=["jobs"])
    def start_reindex(body: ReindexRequest,
                      user: Annotated[User, Depends(auth.require(Permission.START_JOBS))]) -> JobOut:
        """Re-index archive files (or directories of them) on the server as ``camera``, in the background."""
        if services.make_reindexer is None:
            raise HTTPException(status.HTTP_503_SERVICE_UNAVAILABLE, "this server runs no re-index jobs")
        if body.camera not in {c.id for c in store.cameras()}:
            raise HTTPException(status.HTTP_400_BAD_REQUEST, f"unknown camera {body.camera!r}; add it first")
        paths = [Path(p) for p in body.paths]
        missing = [str(p) for p in paths if not p.exists()]
        if missing:
            raise HTTPException(status.HTTP_400_BAD_REQUEST, f"not found on the server: {', '.join(missing[:5])}")
        job = services.jobs.start_reindex(services.make_reindexer(), user.name, paths, body.camera, body.start,
                                          body.force)
        services.audit(user, "job.reindex", None, {"job": job.id, **job.params})
        return JobOut.of(job)

    @api.get("/api/jobs/{job_id}", response_model=JobOut, tags=["jobs"])
    def get_job(job_id: JobId, user: Annotated[User, Depends(auth.require(Permission.START_JOBS))]) -> JobOut:
        """A job's state and progress: files done of total, frames read, sightings, errors."""
        job = store.get_job(job_id)
        if job is None:
            raise HTTPException(status.HTTP_404_NOT_FOUND, f"no job with id {job_id}")
        return JobOut.of(job)

    return api
