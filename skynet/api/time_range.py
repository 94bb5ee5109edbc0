"""The one rule for numbers and time ranges in requests: every number is finite (JSON's ``NaN`` and
``Infinity``, and ``since=nan`` in a query or a form, are refused), and a range's ``since`` is not after
its ``until``. A request that breaks it fails its schema: 422, answered by :mod:`skynet.api.errors` like
every schema error, naming the field.

Body models get it from :class:`skynet.api.schemas.Strict` (finite numbers) and :class:`TimeRange`;
routes taking the range as query or form fields depend on :func:`query_time_range` or
:func:`form_time_range`; other number fields in queries and forms are typed :data:`Finite`.
"""

# No ``from __future__ import annotations``: FastAPI reads the dependencies' annotations at run time.

from typing import Annotated, Literal

from fastapi import Form, Query
from fastapi.exceptions import RequestValidationError
from pydantic import AllowInfNan, BaseModel, ConfigDict, Field, ValidationError, model_validator

Finite = Annotated[float, AllowInfNan(False)]
"""A float that must be a finite number."""

SINCE = "Not before this time (Unix seconds)."
UNTIL = "Not after this time (Unix seconds); not before since."


class TimeRange(BaseModel):
    """A time range; either end may be open (None)."""

    model_config = ConfigDict(allow_inf_nan=False)

    since: Finite | None = Field(default=None, description=SINCE)
    until: Finite | None = Field(default=None, description=UNTIL)

    @model_validator(mode="after")
    def _ordered(self):  # noqa: ANN202 -- pydantic's signature
        if self.since is not None and self.until is not None and self.since > self.until:
            raise ValueError(f"'since' ({self.since:g}) is after 'until' ({self.until:g}): the range is empty")
        return self


def checked_range(since: float | None, until: float | None, source: Literal["query", "body"]) -> TimeRange:
    """``since`` and ``until`` as a :class:`TimeRange`; a schema error (422) of the request's ``source``
    part when they break the rule."""
    try:
        return TimeRange(since=since, until=until)
    except ValidationError as error:
        raise RequestValidationError(
            [{**e, "loc": (source, *e["loc"])} for e in error.errors(include_input=False)]
        ) from None


# The dependencies are coroutines: FastAPI runs a plain function dependency in a worker thread, a hand-off to
# another thread and back (GIL time on the event loop) for a few comparisons.


async def query_time_range(
    since: Annotated[Finite | None, Query(description=SINCE)] = None,
    until: Annotated[Finite | None, Query(description=UNTIL)] = None,
) -> TimeRange:
    """A dependency: the range of the query's ``since`` and ``until``."""
    return checked_range(since, until, "query")


async def form_time_range(
    since: Annotated[Finite | None, Form(description=SINCE)] = None,
    until: Annotated[Finite | None, Form(description=UNTIL)] = None,
) -> TimeRange:
    """A dependency: the range of the form's ``since`` and ``until``."""
    return checked_range(since, until, "body")
