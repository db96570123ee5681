"""What one operation is: everything REST and MCP need to expose it, declared once.

An ``Operation`` names its input contract (one serializer for every argument, ids included),
the id lookups that turn arguments into rows through selectors (tenant scoping included), the
service or selector it runs, how the result is presented and rendered (the output serializer),
whether it is a keyset-paged list, its scope, and where it appears: a REST route
(``RestRoute``), an MCP tool (``ToolSpec``), or both. ``rest_api`` derives its views and URLs
from these declarations and ``mcp_gateway`` its tools; neither holds an adapter of its own, so
the two interfaces cannot drift apart (tests/mcp_gateway/test_parity.py runs every tool through
both)."""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any, Literal

from django.db import transaction
from django.db.models import QuerySet
from rest_framework import serializers

from audit.actor import Actor, Scope
from audit.models import AuditEvent
from audit.services import audit_watch
from core import keyset
from core.errors import PermissionDeniedError
from core.serializers import PageArguments, StrictSerializer

OPERATION_NAME = re.compile(r"^[a-z0-9_]{1,64}$")
PATH_ARGUMENT = re.compile(r"<(?:(?:int|str|slug):)?([a-z_]+)>")

# How an operation's result is shaped: one object, a list (answered whole), or a keyset page.
Shape = Literal["one", "many", "page"]
# Who the operation is for: the brand's credentials (/api/v1/, brand MCP tools) or a partner's
# (/api/partner/v1/, partner MCP tools). Each audience's interfaces list only its operations,
# and ``execute`` refuses an actor of the other one.
Audience = Literal["brand", "partner"]


@dataclass(frozen=True)
class Lookup:
    """Turn an id argument into a row through a selector (tenant scoping included)."""

    argument: str  # e.g. "offer_id"
    parameter: str  # the run function's keyword, e.g. "offer"
    selector: Callable[..., Any]  # e.g. offers.selectors.offer_get_for_actor
    required: bool = True
    many: bool = False  # the argument is a list of ids (each looked up, repeats dropped)
    keyword: str = ""  # the selector's keyword when it differs from ``argument``

    def fetch(self, actor: Actor, value: Any) -> Any:
        keyword = self.keyword or self.argument
        if self.many:
            return [self.selector(actor=actor, **{keyword: item}) for item in dict.fromkeys(value)]
        return self.selector(actor=actor, **{keyword: value})


@dataclass(frozen=True)
class Annotations:
    """MCP tool annotations (hints to clients; never relied on for security)."""

    read_only: bool
    destructive: bool
    idempotent: bool
    open_world: bool

    def as_dict(self, title: str) -> dict[str, Any]:
        return {
            "title": title,
            "readOnlyHint": self.read_only,
            "destructiveHint": self.destructive,
            "idempotentHint": self.idempotent,
            "openWorldHint": self.open_world,
        }


READ = Annotations(read_only=True, destructive=False, idempotent=True, open_world=False)
WRITE_ADDITIVE = Annotations(read_only=False, destructive=False, idempotent=False, open_world=False)
WRITE_UPDATE = Annotations(read_only=False, destructive=True, idempotent=True, open_world=False)
WRITE_ONE_WAY = Annotations(read_only=False, destructive=True, idempotent=False, open_world=False)
# Writes that fire the advertiser's outbound postback or send email reach outside Trcker.
WRITE_FIRES_POSTBACK = Annotations(
    read_only=False, destructive=True, idempotent=True, open_world=True
)
WRITE_SENDS_EMAIL = Annotations(
    read_only=False, destructive=False, idempotent=True, open_world=True
)


@dataclass(frozen=True)
class RestRoute:
    """Where the operation lives under /api/v1/: method, Django path (its <arguments> are taken
    from the URL, every other argument from the query string or the JSON body), URL name,
    OpenAPI tag, and the success status."""

    method: Literal["GET", "POST", "PATCH", "PUT", "DELETE"]
    path: str  # e.g. "offers/<offer_id>/pause/"
    name: str  # URL name, e.g. "offer-pause"
    tag: str
    status: int = 200

    @property
    def path_arguments(self) -> tuple[str, ...]:
        return tuple(PATH_ARGUMENT.findall(self.path))


@dataclass(frozen=True)
class ToolSpec:
    """The operation as an MCP tool: its title and annotations (the name is the operation's)."""

    title: str
    annotations: Annotations = READ


@dataclass(frozen=True)
class Operation:
    name: str  # snake_case; the MCP tool name when exposed as a tool, and the OpenAPI operationId
    description: str
    input: type[serializers.Serializer[Any]]
    run: Callable[..., Any]  # the service or selector: run(actor=…, **arguments after lookups)
    output: type[serializers.Serializer[Any]]
    scope: Scope
    shape: Shape = "one"
    lookups: tuple[Lookup, ...] = ()
    # Turns the run function's result into what ``output`` renders (e.g. re-read a written row
    # through its selector so the answer carries everything the read would).
    present: Callable[[Actor, Any], Any] | None = None
    rest: RestRoute | None = None
    tool: ToolSpec | None = None
    # The answer carries a secret shown once: never cached by a client or proxy.
    shows_secret: bool = False
    # Argument names whose values never enter the tool-call log.
    secret_arguments: frozenset[str] = field(default_factory=frozenset)
    audience: Audience = "brand"

    def __post_init__(self) -> None:
        if not OPERATION_NAME.match(self.name):
            raise ValueError(f"operation name {self.name!r} must match {OPERATION_NAME.pattern}")
        if not issubclass(self.input, StrictSerializer):
            raise TypeError(f"{self.name}: the input contract must be a StrictSerializer")
        fields = self.input().fields
        for name in self.rest.path_arguments if self.rest else ():
            if name not in fields:
                raise ValueError(f"{self.name}: path argument {name} is not an input field")
        for lookup in self.lookups:
            if lookup.argument not in fields:
                raise ValueError(f"{self.name}: lookup {lookup.argument} is not an input field")
        if (self.shape == "page") != issubclass(self.input, PageArguments):
            raise ValueError(f"{self.name}: paged operations, and only they, take PageArguments")
        object.__setattr__(self, "contract", _contract(self))

    # The input as the interfaces take it: a write also takes ``dry_run`` (unless its own
    # input already defines one, as bulk writes do, answering per row).
    contract: type[serializers.Serializer[Any]] = field(init=False, repr=False, compare=False)

    @property
    def is_write(self) -> bool:
        return self.scope == Scope.WRITE

    @property
    def generic_dry_run(self) -> bool:
        return self.is_write and "dry_run" not in self.input().fields

    @property
    def title(self) -> str:
        return self.tool.title if self.tool else self.name.replace("_", " ").capitalize()

    def validate(self, arguments: Any) -> dict[str, Any]:
        """The validated arguments, or DRF's ValidationError naming each bad field."""
        contract = self.contract(data=arguments)
        contract.is_valid(raise_exception=True)
        return dict(contract.validated_data)

    def execute(self, actor: Actor, arguments: Any) -> Result:
        """Validate → look ids up through selectors → run the domain function → present →
        page → render. Raises DRF's ValidationError for bad arguments and DomainError for what
        the domain refuses; each interface maps them to its own error shape.

        A write answers the audit events it recorded (``changes``: field → [before, after]).
        With ``dry_run`` it runs the same way inside a transaction that is then rolled back:
        the answer shows the result and the changes it would make, nothing is written, and
        nothing that waits for a commit (emails, outbound postbacks, cache invalidation) runs."""
        if actor.is_partner != (self.audience == "partner"):
            # The interfaces never route an actor to the other audience's operations; this is
            # the backstop if one ever did, before any argument is read.
            raise PermissionDeniedError(
                f"{self.name} is not available to this credential.", code="wrong_audience"
            )
        data = self.validate(arguments)
        if not self.is_write:
            return self._run(actor, data)
        # An input with its own dry_run (bulk writes) gets it too; the answer must say so.
        own = not self.generic_dry_run
        dry_run = bool(data.get("dry_run", False) if own else data.pop("dry_run", False))
        with audit_watch() as events:
            if dry_run:
                try:
                    with transaction.atomic():
                        rendered = self._run(actor, data)
                        raise _RollBack(rendered)
                except _RollBack as rolled_back:
                    rendered = rolled_back.result
            else:
                rendered = self._run(actor, data)
        return replace(rendered, changes=[_change(event) for event in events], dry_run=dry_run)

    def _run(self, actor: Actor, data: dict[str, Any]) -> Result:
        limit, cursor = data.pop("limit", None), data.pop("cursor", None)
        # The cursor is bound to the arguments as given (ids), not to the rows they name.
        filters = {"brand": actor.brand_id, **data}
        if actor.partner_id is not None:
            filters["partner"] = actor.partner_id
        kwargs = self._bind(actor, dict(data))
        result = self.run(actor=actor, **kwargs)
        if self.present is not None:
            result = self.present(actor, result)
        if self.shape == "page":
            if not isinstance(result, QuerySet):
                raise TypeError(f"{self.name}: a paged operation must return a QuerySet")
            page = keyset.page(
                result,
                operation=self.name,
                filters=filters,
                limit=limit,
                cursor=cursor,
            )
            return Result(
                self.output(page.rows, many=True).data,
                next_cursor=page.next_cursor,
                previous_cursor=page.previous_cursor,
            )
        if self.shape == "many":
            return Result(self.output(result, many=True).data)
        return Result(self.output(result).data)

    def _bind(self, actor: Actor, data: dict[str, Any]) -> dict[str, Any]:
        for lookup in self.lookups:
            value = data.pop(lookup.argument, None)
            if value is None:
                if lookup.required:
                    raise KeyError(lookup.argument)  # the input contract requires it
                data[lookup.parameter] = None
                continue
            data[lookup.parameter] = lookup.fetch(actor, value)
        return data


@dataclass(frozen=True)
class Result:
    """A rendered answer: an object, a list of rows, or one page of rows with its cursors;
    for a write, the changes it made (or, in a dry run, would make)."""

    data: Any
    next_cursor: str | None = None
    previous_cursor: str | None = None
    changes: list[dict[str, Any]] | None = None
    dry_run: bool = False


class _RollBack(Exception):  # noqa: N818 - control flow, not an error
    """Leaves a dry run's transaction, carrying what it rendered."""

    def __init__(self, result: Result) -> None:
        super().__init__("dry run")
        self.result = result


def _change(event: AuditEvent) -> dict[str, Any]:
    return {
        "action": event.action,
        "target_type": event.target_type,
        "target_id": event.target_id,
        "changes": event.changes,
    }


class ChangeOutput(serializers.Serializer[dict[str, Any]]):
    """One audit event of a write, as the write answers it."""

    action = serializers.CharField(help_text="What was done, e.g. offer.pause or payout.paid.")
    target_type = serializers.CharField(help_text="The kind of row, e.g. offer, conversion.")
    target_id = serializers.CharField(help_text="The row's id (slug, code or prefixed id).")
    changes = serializers.DictField(
        help_text="field → [value before, value after]; secrets are never shown."
    )


def write_answer_fields() -> dict[str, serializers.Field[Any, Any, Any, Any]]:
    """What every write's answer carries beside its result."""
    return {
        "changes": ChangeOutput(
            many=True, help_text="The audit events of this write: what it changed, row by row."
        ),
        "dry_run": serializers.BooleanField(
            help_text="true: nothing was written; changes are what the write would make."
        ),
    }


def answer_serializer(operation: Operation) -> type[serializers.Serializer[Any]]:
    """The serializer describing a one-object answer: the output, plus a write's changes."""
    if not operation.is_write or operation.shape != "one":
        return operation.output
    name = "".join(part.capitalize() for part in operation.name.split("_")) + "Answer"
    return type(name, (operation.output,), write_answer_fields())


DRY_RUN_HELP = (
    "true: run the write without keeping it — the answer shows the result and the changes it "
    "would make; nothing is written and nothing is sent."
)


def _contract(operation: Operation) -> type[serializers.Serializer[Any]]:
    if not operation.generic_dry_run:
        return operation.input
    base: Any = operation.input

    class WriteContract(base):  # type: ignore[misc]  # the input plus dry_run; a run-time base
        dry_run = serializers.BooleanField(default=False, help_text=DRY_RUN_HELP)

    name = "".join(part.capitalize() for part in operation.name.split("_")) + "Input"
    WriteContract.__name__ = WriteContract.__qualname__ = name
    return WriteContract


def refetch(
    selector: Callable[..., Any], argument: str, attribute: str
) -> Callable[[Actor, Any], Any]:
    """A ``present`` step that re-reads a written row through its selector, by the row's
    ``attribute`` (dotted for a related row's, e.g. "offer.slug")."""

    def present(actor: Actor, row: Any) -> Any:
        value = row
        for part in attribute.split("."):
            value = getattr(value, part)
        return selector(actor=actor, **{argument: value})

    return present


def by_name(operations: Mapping[str, Operation] | list[Operation]) -> dict[str, Operation]:
    items = list(operations.values()) if isinstance(operations, Mapping) else list(operations)
    names = [operation.name for operation in items]
    duplicates = sorted({name for name in names if names.count(name) > 1})
    if duplicates:
        raise ValueError(f"duplicate operation names: {duplicates}")
    return {operation.name: operation for operation in items}
