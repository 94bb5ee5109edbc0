"""What can go wrong with accounts and credentials, each error of one kind (:mod:`skynet.errors`)."""

from __future__ import annotations

from skynet.errors import ConflictError, NotFoundError, UnauthenticatedError, UnusableInputError


class AuthError(UnauthenticatedError):
    """A credential that is missing, wrong or expired, or whose user is disabled or gone."""


class WeakPasswordError(UnusableInputError):
    """A password too short to be accepted."""


class UnknownUserError(NotFoundError):
    """No account has that name."""


class UnknownTokenError(NotFoundError):
    """The user has no token with that id."""


class UserExistsError(ConflictError):
    """The name is taken."""


class UserDisabledError(ConflictError):
    """The account is disabled, so it gets no new token."""


class NotGrantableError(UnusableInputError):
    """A permission that no admin can grant to one user (a role's, or no permission at all)."""


class LastAdminError(ConflictError):
    """The change would leave no active admin."""
