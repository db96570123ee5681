"""REST views and URLs derived from the operation declarations (``operations.catalog``).

One view class per URL path, one handler per method; each handler gathers the arguments (the
path's ids, plus the query string for GET or the JSON body otherwise), runs the operation, and
answers its result: the object, ``{"results": [...]}`` for a list answered whole, or
``{"next", "previous", "results"}`` for a keyset page, whose links carry the operation's own
cursor (core.keyset). The OpenAPI description of each handler is generated from the same
declaration."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from typing import Any

from django.http import QueryDict
from django.urls import URLPattern, path
from drf_spectacular.utils import (
    OpenApiParameter,
    OpenApiResponse,
    extend_schema,
    inline_serializer,
)
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.utils.urls import remove_query_param, replace_query_param

from audit.actor import Scope
from core.errors import NotFoundError
from core.serializers import QueryParams
from operations.declaration import Operation, answer_serializer, write_answer_fields
from rest_api.base import TenantApi, paginated

CURSOR_PARAMETER = "cursor"


class OperationApi(TenantApi):
    """Base of the derived views; ``operations`` maps an HTTP method to its operation."""

    operations: dict[str, Operation]


def _arguments(request: Request, operation: Operation, path_arguments: dict[str, Any]) -> Any:
    if request.method == "GET":
        data: dict[str, Any] = QueryParams(request.query_params.dict())
    elif isinstance(request.data, QueryDict):
        data = QueryParams(request.data.dict())
    elif isinstance(request.data, dict):
        data = dict(request.data)
    else:  # JSON null, an array, a number: the body of an operation is an object or nothing
        raise serializers.ValidationError({"non_field_errors": ["Expected a JSON object."]})
    given_twice = sorted(set(data) & set(path_arguments))
    if given_twice:
        raise serializers.ValidationError(
            {name: ["Given in the URL; it cannot be set here."] for name in given_twice}
        )
    data.update(path_arguments)
    return data


PATH_ENTITY = {"code": "coupon", "event_id": "audit event"}


def _not_found_if_in_path(exc: serializers.ValidationError, path_arguments: dict[str, Any]) -> None:
    """An id in the URL that cannot be an id names nothing: 404, as for an unknown id."""
    if isinstance(exc.detail, dict):
        for name in path_arguments:
            if name in exc.detail:
                entity = PATH_ENTITY.get(name, name.removesuffix("_id"))
                raise NotFoundError(entity, path_arguments[name]) from None


def _page_link(request: Request, cursor: str | None) -> str | None:
    if cursor is None:
        return None
    url = remove_query_param(request.build_absolute_uri(), CURSOR_PARAMETER)
    return replace_query_param(url, CURSOR_PARAMETER, cursor)


def _handler(operation: Operation) -> Callable[..., Response]:
    def handle(self: OperationApi, request: Request, **path_arguments: Any) -> Response:
        if operation.scope == Scope.WRITE:
            self.actor.require_write()
        try:
            result = operation.execute(self.actor, _arguments(request, operation, path_arguments))
        except serializers.ValidationError as exc:
            _not_found_if_in_path(exc, path_arguments)
            raise
        if operation.shape == "page":
            body: Any = {
                "next": _page_link(request, result.next_cursor),
                "previous": _page_link(request, result.previous_cursor),
                "results": result.data,
            }
        elif operation.shape == "many":
            body = {"results": result.data}
        else:
            body = dict(result.data)
        if operation.is_write:
            body.update(changes=result.changes, dry_run=result.dry_run)
        assert operation.rest is not None  # only routed operations get a handler
        # A dry run created nothing: 200, never 201.
        status = 200 if result.dry_run else operation.rest.status
        response = Response(body, status=status)
        if operation.shows_secret:
            response["Cache-Control"] = "no-store"
        return response

    handle.__name__ = operation.name
    return _documented(operation)(handle)


def _camel(name: str) -> str:
    return "".join(part.capitalize() for part in name.split("_"))


def _without(contract: type[serializers.Serializer], names: Iterable[str], name: str) -> Any:
    """The contract minus the arguments the URL carries (for the OpenAPI body or query), under
    a component name of its own."""
    dropped = frozenset(names)
    if not dropped:
        return contract
    base: Any = contract

    class Narrowed(base):  # a base known only at run time
        def get_fields(self) -> dict[str, serializers.Field]:
            fields: dict[str, serializers.Field] = super().get_fields()
            return {key: field for key, field in fields.items() if key not in dropped}

    Narrowed.__name__ = Narrowed.__qualname__ = name
    return Narrowed


def _path_parameter(operation: Operation, name: str) -> OpenApiParameter:
    field = operation.input().fields[name]
    kind = int if isinstance(field, serializers.IntegerField) else str
    return OpenApiParameter(
        name, kind, OpenApiParameter.PATH, description=str(field.help_text or "")
    )


def _documented(operation: Operation) -> Callable[[Any], Any]:
    route = operation.rest
    assert route is not None
    path_names = route.path_arguments
    rest_of_input = _without(operation.contract, path_names, f"{_camel(operation.name)}Arguments")
    parameters: list[Any] = [_path_parameter(operation, name) for name in path_names]
    request: Any = None
    if route.method == "GET":
        if rest_of_input().fields:
            parameters.append(rest_of_input)
    elif rest_of_input().fields:
        request = rest_of_input
    if operation.shape == "page":
        response: Any = paginated(operation.output, name=f"{_camel(operation.name)}Page")
    elif operation.shape == "many":
        response = inline_serializer(
            name=f"{_camel(operation.name)}Results",
            fields={
                "results": operation.output(many=True),
                **(write_answer_fields() if operation.is_write else {}),
            },
        )
    else:
        response = answer_serializer(operation)
    responses: dict[int, Any] = {route.status: response}
    takes_dry_run = operation.is_write and "dry_run" in operation.contract().fields
    if takes_dry_run and route.status != 200:
        # A dry run creates nothing: it answers 200 with what would have been created (an
        # input's own dry_run too, as invite_partner's, which the service also reads).
        responses[200] = OpenApiResponse(response, description="dry_run: nothing was written.")
    return extend_schema(
        operation_id=operation.name,
        summary=operation.title,
        description=operation.description,
        tags=[route.tag],
        parameters=parameters,
        request=request,
        responses=responses,
    )


PATH_CONVERTER = re.compile(r"<(?!(?:int|str|slug|path|uuid):)([a-z_]+)>")


def urlpatterns_for(
    operations: Iterable[Operation], base: type[OperationApi] = OperationApi
) -> list[URLPattern]:
    """One URL pattern per path, its view answering each method declared on that path;
    ``base`` authenticates the caller and builds the actor (brand key, or partner key)."""
    by_path: dict[str, dict[str, Operation]] = {}
    for operation in operations:
        if operation.rest is None:
            continue
        methods = by_path.setdefault(operation.rest.path, {})
        if operation.rest.method in methods:
            raise ValueError(f"two operations on {operation.rest.method} {operation.rest.path}")
        methods[operation.rest.method] = operation
    patterns = []
    # Literal paths first: "payouts/generate/" must not be read as the payout "generate".
    for route_path, methods in sorted(by_path.items(), key=lambda item: item[0].count("<")):
        first = next(iter(methods.values()))
        assert first.rest is not None
        attributes: dict[str, Any] = {
            method.lower(): _handler(operation) for method, operation in methods.items()
        }
        attributes["operations"] = methods
        attributes["__doc__"] = " / ".join(operation.name for operation in methods.values())
        view: type[OperationApi] = type(f"{_camel(first.name)}Api", (base,), attributes)
        # A bare <name> is a string: Django's default converter.
        django_path = PATH_CONVERTER.sub(r"<str:\1>", route_path)
        patterns.append(path(django_path, view.as_view(), name=first.rest.name))
    return patterns
