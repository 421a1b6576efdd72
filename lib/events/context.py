"""Where a request came from, remembered on its database session for the events it writes.

The request's dependencies (`lib.deps`) remember it, so that no service passes it along. Kept
apart from `lib.events.record` so that a function that writes no event loads no event table.
"""

from __future__ import annotations

import dataclasses
import uuid
from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncSession

from lib.log import request_id_var

_CONTEXT = "security_event_context"


@dataclass(frozen=True)
class RequestContext:
    ip_address: str | None = None
    user_agent: str | None = None
    request_id: str | None = None
    session_id: uuid.UUID | None = None  # the caller's session, on a request with a Bearer token


def remember_request(session: AsyncSession, context: RequestContext) -> None:
    session.info[_CONTEXT] = context


def remember_caller_session(session: AsyncSession, session_id: uuid.UUID) -> None:
    session.info[_CONTEXT] = dataclasses.replace(request_context(session), session_id=session_id)


def request_context(session: AsyncSession) -> RequestContext:
    """What the request's dependencies remembered; outside a request (a script), its request id at most."""
    context: RequestContext | None = session.info.get(_CONTEXT)
    return context or RequestContext(request_id=request_id_var.get())
