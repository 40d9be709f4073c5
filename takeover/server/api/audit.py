"""The audit trail: every change and every answer to an agent, hash-chained, read a page at a time."""

from typing import Annotated, Any

from fastapi import APIRouter, Query
from pydantic import BaseModel, Field

from takeover import store
from takeover.control.validation import MAX_ID, AgentScope, Name
from takeover.server.api.deps import OperatorDep, Seconds, SessionDep


class AuditRow(BaseModel):
    id: int
    at: float
    actor: str
    action: str
    subject: str
    before: Any = None
    after: Any = None
    reason: str
    request_id: str
    prev_hash: str
    hash: str


class AuditPage(BaseModel):
    rows: list[AuditRow]
    next_after_id: int | None = Field(description="pass as after_id for the next page; null on the last")


router = APIRouter()


@router.get("/audit", response_model=AuditPage)
def audit(who: OperatorDep, s: SessionDep,
          agent: Annotated[AgentScope | None, Query()] = None,
          actor: Annotated[Name | None, Query()] = None,
          action: Annotated[Name | None, Query(description="prefix, e.g. approval or mode.override")] = None,
          since: Seconds = None, until: Seconds = None,
          after_id: Annotated[int, Query(ge=0, le=MAX_ID, description="page after this row id")] = 0,
          limit: Annotated[int, Query(ge=1, le=1000)] = 100) -> Any:
    """A page of the audit trail, oldest first; pass the last id as after_id for the next."""
    rows = store.audit_rows(session=s, agent=agent, actor=actor, action=action, since=since,
                            until=until, after_id=after_id, limit=limit)
    return {"rows": [r.model_dump() for r in rows],
            "next_after_id": rows[-1].id if len(rows) == limit else None}
