"""The policy file (TAKEOVER_POLICIES): ordered approval policies, every problem reported as
file:line:column like a rule file.

    policies:
      - name: big-refunds
        agent: "refund-*"             # glob (default *)
        action: refund                # glob (default *)
        kind: write                   # read | write (default: any)
        when: ["amount > 500", 'to_account !~ "^internal-"', "has currency"]
        decision: require_approval    # allow | deny | require_approval
        reason: refunds over 500 need a human
        approvers: [role:operator]    # role:operator, role:admin, operator:alice
        quorum: 2
        owner_may_approve: false      # the agent's owner (routing file) may not approve
        expires_in: 15m
        escalation: [{after: 5m, target: "#payments-leads"}]
        grant_max: 1h                 # an approver may also allow this action for up to 1h
        shadow: true                  # judged and recorded beside the others, never obeyed

`shadow: true` at the top of the file marks every policy in it.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import yaml

from takeover.config.mode import Mode
from takeover.config.yamlfile import ConfigError, ErrorSink, compose_yaml, duration, keys, mapping, scalar, unreadable
from takeover.control.policy import Approval, Condition, Escalation, Policy, parse_condition
from takeover.control.sources import Decision

POLICY_FIELDS = {"name", "agent", "action", "kind", "risk", "when", "mode", "variant", "alert_firing", "decision",
                 "reason", "approvers", "quorum", "owner_may_approve", "expires_in", "escalation", "grant_max",
                 "shadow"}
DECISIONS = {"allow": Decision.allow, "deny": Decision.deny, "require_approval": Decision.approval_required}


def load_policies(path: str | Path | None) -> tuple[Policy, ...]:
    """The policies in `path` (none without a file); ConfigError with every problem."""
    if path is None:
        return ()
    try:
        text = Path(path).read_text()
    except OSError as exc:
        raise unreadable(str(path), "policy file", exc) from None
    return parse_policies(text, filename=str(path))


def parse_policies(text: str, *, filename: str) -> tuple[Policy, ...]:
    root, errors, err = compose_yaml(text, filename=filename)
    if root is None:
        if errors:  # a file that is not YAML is refused, never read as "no policies"
            raise ConfigError(errors)
        return ()
    top = mapping(root, err, "policy file")
    for key, (knode, _) in keys(root).items():
        if key not in ("policies", "shadow"):
            err(knode, f"unknown field {key} (a policy file has a list, policies, and may be marked shadow)")
    whole_shadow = _choice(top, "shadow", ("true", "false"), err) == "true"
    nodes = top.get("policies")
    policies: list[Policy] = []
    names: set[str] = set()
    if nodes is not None and not isinstance(nodes, yaml.SequenceNode):
        err(nodes, "policies must be a list")
    for node in nodes.value if isinstance(nodes, yaml.SequenceNode) else ():
        policy = _policy(node, filename, err)
        if policy is None:
            continue
        if whole_shadow:
            policy = replace(policy, shadow=True)
        if policy.name in names:
            err(node, f"policy {policy.name!r} is defined twice")
        names.add(policy.name)
        policies.append(policy)
    if errors:
        raise ConfigError(sorted(errors, key=lambda e: (e.line, e.column)))
    return tuple(policies)


def _policy(node: yaml.Node, filename: str, err: ErrorSink) -> Policy | None:
    fields = mapping(node, err, "policy")
    for key, (knode, _) in keys(node).items():
        if key not in POLICY_FIELDS:
            err(knode, f"unknown field {key} in a policy (allowed: {', '.join(sorted(POLICY_FIELDS))})")
    name = scalar(fields.get("name"), err, "name") or ""
    decision_text = scalar(fields.get("decision"), err, "decision") or ""
    if not name:
        err(node, "a policy needs a name")
    if decision_text not in DECISIONS:
        err(fields.get("decision") or node, f"decision must be one of {', '.join(DECISIONS)}; got {decision_text!r}")
    kind, risk, variant = (_choice(fields, k, allowed, err) for k, allowed in (
        ("kind", ("read", "write")), ("risk", ("low", "high")), ("variant", ("stable", "canary", "none"))))
    when: list[Condition] = []
    for item in _list(fields.get("when"), err, "when"):
        try:
            when.append(parse_condition(str(item.value)))
        except ValueError as exc:
            err(item, str(exc))
    modes = []
    for item in _list(fields.get("mode"), err, "mode", single=True):
        if str(item.value) not in Mode.__members__:
            err(item, f"mode must be one of {', '.join(Mode.__members__)}; got {item.value!r}")
        else:
            modes.append(Mode[str(item.value)])
    firing = _choice(fields, "alert_firing", ("true", "false"), err)
    shadow = _choice(fields, "shadow", ("true", "false"), err)
    if not name or decision_text not in DECISIONS:
        return None
    return Policy(name=name, decision=DECISIONS[decision_text], agent=scalar(fields.get("agent"), err, "agent") or "*",
                  action=scalar(fields.get("action"), err, "action") or "*", kind=kind, risk=risk,
                  when=tuple(when), modes=tuple(modes), variant=variant,
                  alert_firing=None if firing is None else firing == "true",
                  reason=scalar(fields.get("reason"), err, "reason") or "",
                  approval=_approval(fields, DECISIONS[decision_text], err),
                  where=f"{filename}:{node.start_mark.line + 1}", shadow=shadow == "true")


def _approval(fields: dict[str, yaml.Node], decision: Decision, err: ErrorSink) -> Approval:
    given = [k for k in ("approvers", "quorum", "owner_may_approve", "expires_in", "escalation", "grant_max")
             if k in fields]
    if given and decision != Decision.approval_required:
        err(fields[given[0]], f"{given[0]} only applies to decision: require_approval")
    approvers = []
    for item in _list(fields.get("approvers"), err, "approvers"):
        text = str(item.value)
        if not (text in ("role:operator", "role:admin") or (text.startswith("operator:") and text[9:].strip())):
            err(item, f"approvers are role:operator, role:admin or operator:<name>; got {text!r}")
        approvers.append(text)
    quorum = 1
    if (q := fields.get("quorum")) is not None:
        text = scalar(q, err, "quorum") or ""
        if not text.isdigit() or not 1 <= int(text) <= 10:
            err(q, f"quorum must be a whole number from 1 to 10; got {text!r}")
        else:
            quorum = int(text)
    owner = _choice(fields, "owner_may_approve", ("true", "false"), err)
    steps = []
    for step in _list(fields.get("escalation"), err, "escalation"):
        sf = mapping(step, err, "escalation step")
        if "after" not in sf or "target" not in sf:
            err(step, "an escalation step needs after and target, e.g. {after: 5m, target: \"#leads\"}")
            continue
        steps.append(Escalation(duration(sf["after"], err, "after"), scalar(sf["target"], err, "target") or ""))
    expires = duration(fields.get("expires_in"), err, "expires_in", 0.0) if "expires_in" in fields else None
    return Approval(approvers=tuple(approvers) or ("role:operator",), quorum=quorum,
                    owner_may_approve=owner != "false", expires_in=expires,
                    escalation=tuple(sorted(steps, key=lambda s: s.after)),
                    grant_max=duration(fields.get("grant_max"), err, "grant_max", 0.0))


def _choice(fields: dict[str, yaml.Node], name: str, allowed: tuple[str, ...], err: ErrorSink) -> str | None:
    node = fields.get(name)
    if node is None:
        return None
    text = (scalar(node, err, name) or "").lower() if name in ("alert_firing", "shadow") else scalar(node, err, name)
    if text not in allowed:
        err(node, f"{name} must be one of {', '.join(allowed)}; got {text!r}")
        return None
    return text


def _list(node: yaml.Node | None, err: ErrorSink, what: str, *, single: bool = False) -> list[yaml.ScalarNode]:
    if node is None:
        return []
    if single and isinstance(node, yaml.ScalarNode):
        return [node]
    if not isinstance(node, yaml.SequenceNode):
        err(node, f"{what} must be a list")
        return []
    out = []
    for item in node.value:
        if isinstance(item, yaml.ScalarNode) or what == "escalation":
            out.append(item)
        else:
            err(item, f"each item of {what} must be a string")
    return out
