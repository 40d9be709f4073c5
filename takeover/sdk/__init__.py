"""The agent SDK: follow the agent's control document and guard its tools. The sans-I/O core
(core, model, answers, arguments, errors) and its thin shells (clients); the standard library and httpx only.

`ControlState` is the sans-I/O core: the cached document and all the logic. Its flows are
generators that yield a step (an `httpx.Request` to send, or seconds to sleep) and receive the
outcome; `Client` (a daemon thread) and `AsyncClient` (an asyncio task) only perform the steps.

It fails closed: a write never runs on a stale all-clear. The exceptions:

    TakeoverError
     ├── ControlPlaneUnreachable   no fresh control document, or the server did not answer
     ├── RequestRejected           the server refused the request itself (401, 403, other 4xx)
     └── Refused                   the server said not now (.action .reason .mode .version .approval_id)
          ├── ApprovalRequired     decision approval_required: a human must approve it
          │    └── ApprovalTimeout still pending when wait_for_approval ran out; the request stays open
          ├── Rejected             a human rejected the request (.comment .decided_by)
          ├── ApprovalExpired      nobody answered the request before it expired
          └── Denied               decision deny (or an approval request cancelled), for a reason not below
               ├── WritesPaused    mode pause_writes: writes may resume (.retry_after)
               ├── ReadOnly        mode read_only
               └── HandedOff       mode handoff: stop and hand the conversation to a human

Approvals. A guard whose action needs a human's approval raises ApprovalRequired at once,
unless given `wait_for_approval=seconds`: then it long-polls the approval request until it is
decided. Approved: the call runs with the effective arguments (the proposed ones with the
approver's edits on top) — a decorated function gets the edited values in place of the call's
arguments of those names; `with client.guard(...) as permit:` gets them as `permit.args`.
Rejected raises Rejected, expired raises ApprovalExpired. Still pending at the timeout raises
ApprovalTimeout and leaves the request open, so that asking again with the same
`idempotency_key` picks up the same request and any decision made meanwhile (without a key,
every call opens a new request). A key names one action and its one request: once approved,
asking again with the key runs at once; once rejected or expired, it raises that again (a new
request needs a new key); reusing the key for other arguments raises RequestRejected.
If the server stops answering while the guard waits, it raises ControlPlaneUnreachable; and an
approval that arrives after the agent's mode changed to deny the action (by the cached control
document, which must be fresh) does not run.

Variants. While a release of the agent rolls out, the control document carries it:
`{"id", "state", "weight_bp", "stable": {"version", ...}, "canary": {"version", ...} | None}`.
`client.variant(key)` says which `Variant` a key (a user, a conversation) runs: the canary iff
the document is fresh, the release has a canary (and is not rolled back) and `bucket(agent,
release, key)` (sha256, in [0, 10000)) is below `weight_bp`; else stable, with the release's
stable descriptor (model, prompt, ...). Not fresh means stable: the canary is the riskier choice.
Sticky: raising the weight only adds keys to the canary. `guard(..., variant=v)` sends
`{"release", "name", "version"}` with the action, so the audit says which version acted.
"""

# relative imports: the SDK names no other takeover module (pyproject's import-linter contract)
from .answers import failure as failure
from .answers import refusal as refusal
from .answers import settled as settled
from .arguments import call_args as call_args
from .arguments import with_edits as with_edits
from .clients import NOT_RUNNING as NOT_RUNNING
from .clients import AsyncClient, Client, Guard
from .core import APPROVAL_POLL as APPROVAL_POLL
from .core import BACKOFF_BASE as BACKOFF_BASE
from .core import BACKOFF_CAP as BACKOFF_CAP
from .core import IDLE as IDLE
from .core import ControlState, bucket, route
from .core import backoff as backoff
from .errors import DENIALS as DENIALS
from .errors import (
    ApprovalExpired,
    ApprovalRequired,
    ApprovalTimeout,
    ControlPlaneUnreachable,
    Denied,
    HandedOff,
    ReadOnly,
    Refused,
    Rejected,
    RequestRejected,
    TakeoverError,
    WritesPaused,
)
from .model import Action, Permit, Status, Variant
from .model import Flow as Flow
from .model import Kind as Kind
from .model import Outcome as Outcome
from .model import ReadPolicy as ReadPolicy
from .model import Risk as Risk
from .model import Step as Step
from .model import Synced as Synced
from .model import VariantName as VariantName

__all__ = [
    "Action", "ApprovalExpired", "ApprovalRequired", "ApprovalTimeout", "AsyncClient", "Client",
    "ControlPlaneUnreachable", "ControlState", "Denied", "Guard", "HandedOff", "Permit", "ReadOnly",
    "Refused", "Rejected", "RequestRejected", "Status", "TakeoverError", "Variant", "WritesPaused", "bucket",
    "route",
]
