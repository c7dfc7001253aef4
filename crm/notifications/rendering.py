"""Message templates: checking them when saved, and rendering them for a customer.

Templates use Django's template language on a sandboxed engine: no loaders (nothing can be
included or extended), no tag libraries to load, and no tags that read outside the context
(``debug``, ``url``, ``csrf_token``). Output is plain text (SMS bodies and text email), so
nothing is HTML-escaped.
"""

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.template import Context, Engine, TemplateSyntaxError
from django.template.base import FilterExpression, Node, Template, Variable
from django.template.defaulttags import (
    AutoEscapeControlNode,
    CommentNode,
    CycleNode,
    FilterNode,
    FirstOfNode,
    ForNode,
    IfChangedNode,
    IfNode,
    NowNode,
    SpacelessNode,
    TemplateTagNode,
    VerbatimNode,
    WidthRatioNode,
    WithNode,
)
from django.template.smartif import TokenBase

from crm.notifications.catalog import Channel, event_spec

_ENGINE = Engine(loaders=[], libraries={}, autoescape=False, string_if_invalid="")

_ALLOWED_NODES: tuple[type[Node], ...] = (
    AutoEscapeControlNode,
    CommentNode,
    CycleNode,
    FilterNode,
    FirstOfNode,
    ForNode,
    IfChangedNode,
    IfNode,
    NowNode,
    SpacelessNode,
    TemplateTagNode,
    VerbatimNode,
    WidthRatioNode,
    WithNode,
)
# Plain text and {{ variables }}; anything else must be in _ALLOWED_NODES.
_BASE_NODE_NAMES = frozenset({"TextNode", "VariableNode"})
_LOCAL_NAME_ATTRIBUTES = ("asvar", "variable_name", "var_name")


def _compile(source: str) -> Template:
    return _ENGINE.from_string(source)


def _expressions(value: Any, depth: int = 0) -> Iterator[FilterExpression]:
    """Every FilterExpression held by a node's attributes (if-conditions included)."""
    if depth > 8:
        return
    if isinstance(value, FilterExpression):
        yield value
    elif isinstance(value, TokenBase):
        for attribute in ("first", "second", "value"):
            yield from _expressions(getattr(value, attribute, None), depth + 1)
    elif isinstance(value, list | tuple):
        for item in value:
            yield from _expressions(item, depth + 1)
    elif isinstance(value, dict):
        for item in value.values():
            yield from _expressions(item, depth + 1)


def _top_level_names(expression: FilterExpression) -> Iterator[str]:
    variables = [expression.var] + [
        argument
        for _function, arguments in expression.filters
        for _is_variable, argument in arguments
    ]
    for variable in variables:
        if isinstance(variable, Variable) and variable.lookups:
            yield variable.lookups[0]


def _tag_name(node: Node) -> str:
    token = getattr(node, "token", None)
    if token is not None and token.contents:
        return str(token.split_contents()[0])
    return type(node).__name__


def template_errors(*, event: str, source: str) -> list[str]:
    """Why ``source`` is not a valid template for ``event`` (an empty list when it is)."""
    try:
        template = _compile(source)
    except TemplateSyntaxError as error:
        return [f"Template syntax error: {error}"]

    nodes = template.nodelist.get_nodes_by_type(Node)
    errors = []
    refused = sorted(
        {
            _tag_name(node)
            for node in nodes
            if type(node).__name__ not in _BASE_NODE_NAMES and not isinstance(node, _ALLOWED_NODES)
        }
    )
    if refused:
        errors.append(
            "These tags are not allowed in message templates: " + ", ".join(refused) + "."
        )

    provided = event_spec(event).variable_names
    local_names = {"forloop"}
    used: set[str] = set()
    for node in nodes:
        if isinstance(node, ForNode):
            local_names.update(node.loopvars)
        if isinstance(node, WithNode):
            local_names.update(node.extra_context)
        for attribute in _LOCAL_NAME_ATTRIBUTES:
            name = getattr(node, attribute, None)
            if isinstance(name, str):
                local_names.add(name)
        for name, value in vars(node).items():
            if name in {"token", "origin", "nodelist", "nodelist_loop", "nodelist_empty"}:
                continue
            for expression in _expressions(value):
                used.update(_top_level_names(expression))
    unknown = sorted(used - provided - local_names)
    if unknown:
        errors.append(
            "Unknown variable"
            + ("s " if len(unknown) > 1 else " ")
            + ", ".join(f"'{name}'" for name in unknown)
            + f". The event {event} provides: "
            + ", ".join(sorted(provided))
            + "."
        )
    return errors


def validate_template_source(*, event: str, source: str, field: str) -> None:
    errors = template_errors(event=event, source=source)
    if errors:
        raise ValidationError({field: errors})


@dataclass(frozen=True)
class RenderedMessage:
    subject: str
    body: str


def site_context() -> dict[str, str]:
    return {
        "name": settings.NOTIFICATION_SITE_NAME,
        "url": settings.NOTIFICATION_PUBLIC_BASE_URL,
    }


def customer_context(customer: Any) -> dict[str, str]:
    """What a template may know of a customer: names and addresses, nothing else."""
    return {
        "first_name": customer.first_name,
        "last_name": customer.last_name,
        "full_name": f"{customer.first_name} {customer.last_name}".strip(),
        "email": customer.email,
        "phone": customer.phone,
    }


def address_context(*, channel: str, recipient: str) -> dict[str, str]:
    """The ``customer`` of a message to an address: no names, only the address it goes to."""
    return {
        "first_name": "",
        "last_name": "",
        "full_name": "",
        "email": recipient if channel == Channel.EMAIL else "",
        "phone": recipient if channel == Channel.SMS else "",
    }


def render_source(source: str, context: Mapping[str, Any]) -> str:
    return _compile(source).render(Context(dict(context), autoescape=False))


def render_message(*, subject: str, body: str, context: Mapping[str, Any]) -> RenderedMessage:
    # A subject is one line: a header with a newline in it is refused by the mail library.
    rendered_subject = " ".join(render_source(subject, context).split())
    return RenderedMessage(subject=rendered_subject, body=render_source(body, context).strip())


def sample_context(event: str) -> dict[str, Any]:
    return dict(event_spec(event).sample)
