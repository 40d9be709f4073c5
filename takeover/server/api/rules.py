"""Rules: the loaded rule groups with their health, and reloading the rule files."""

from typing import Any

from fastapi import APIRouter, HTTPException
from pydantic import BaseModel, Field

from takeover.server.api.deps import OperatorDep, ServiceDep


class RuleGroups(BaseModel):
    groups: list[dict[str, Any]] = Field(description="like Prometheus's /api/v1/rules, plus takeover's fields")


class Reloaded(BaseModel):
    groups: int
    rules: int


router = APIRouter()


@router.get("/rules", response_model=RuleGroups)
def rules(who: OperatorDep, service: ServiceDep) -> Any:
    """Rule groups with each rule's health, last error and last evaluation."""
    return {"groups": service.rules_status()}


@router.post("/rules/reload", response_model=Reloaded)
def reload_rules(who: OperatorDep, service: ServiceDep) -> Any:
    """Reload the rule files; a file that fails the check is refused and nothing changes."""
    errors = service.reload(actor=who.actor)
    if errors:
        raise HTTPException(422, {"message": "rule files refused; the running rules stay",
                                  "errors": [str(e) for e in errors]})
    return {"groups": len(service.groups), "rules": sum(len(g.rules) for g in service.groups)}
