"""The customer 360: the extension point that lets higher apps add to the helpdesk's customer
page, its search and its client scoping, without crm importing them.

crm sits at the bottom (DESIGN.md): it cannot import claims or rewards. Each higher app
registers, from its ``AppConfig.ready()``, what it knows about a customer::

    register_panel("claims", _("Claims"), "claims/customer_panel.html", claims_context,
                   permission="claims.view_claim", order=10)
    register_search_hook("claims", customers_with_claim_number)
    register_scope_hook("claims", customers_of_client_claims)
    register_panel_action("claims", "mark_returned", mark_returned, permission="...")

- A **panel** is a titled block on the customer's change page. Its context function gets a
  PanelView (customer, the ids merged into it, the user, the user's client scope) and
  returns the template context; crm renders the template and shows the panel only to users
  holding ``permission``.
- A **search hook** takes what the helpdesk typed and returns the ids of customers it names
  (a claim number, a code, a participant id): a queryset of ids or any iterable of ints.
- A **scope hook** takes a client id and returns the ids of that client's customers (as a
  ``values("customer_id")``-style queryset, used as a subquery). Staff tied to a client see
  only customers some hook names; agency staff (no client) see everyone.
- A **panel action** is a POST from a form inside a panel (``action_url``), run by crm's
  admin view after its access checks; the function calls the owning app's service and
  returns the message to show, or raises PanelActionError.
"""

import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from django.db.models import Q, QuerySet
from django.http import HttpRequest, QueryDict
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils.functional import Promise

from crm.models import Customer, StaffProfile

logger = logging.getLogger(__name__)


class PanelActionError(Exception):
    """A panel action that cannot be done; the message is shown to the user as is."""


@dataclass(frozen=True)
class PanelView:
    """What a panel's context function and action get to know about the page."""

    customer: Customer
    # The customer and every duplicate merged into it: history about those belongs here too.
    customer_ids: tuple[int, ...]
    user: Any
    # The client the user is tied to; None for agency staff. Panels show only this client's
    # rows when it is set.
    client_id: int | None
    request: HttpRequest | None = None

    def action_url(self, panel_key: str, action_key: str) -> str:
        return reverse(
            "admin:crm_customer_panel_action", args=[self.customer.pk, panel_key, action_key]
        )


PanelContext = Callable[[PanelView], dict[str, Any]]
PanelAction = Callable[[PanelView, QueryDict], str]
SearchHook = Callable[[str], Iterable[int] | QuerySet[Any]]
ScopeHook = Callable[[int], QuerySet[Any]]


@dataclass(frozen=True)
class Panel:
    key: str
    title: str | Promise
    template_name: str
    context_function: PanelContext
    permission: str | None
    order: int


@dataclass(frozen=True)
class RegisteredAction:
    panel_key: str
    action_key: str
    function: PanelAction
    permission: str


@dataclass(frozen=True)
class RenderedPanel:
    key: str
    title: str | Promise
    html: str
    failed: bool = False


@dataclass
class _Registry:
    panels: dict[str, Panel] = field(default_factory=dict)
    actions: dict[tuple[str, str], RegisteredAction] = field(default_factory=dict)
    search_hooks: dict[str, SearchHook] = field(default_factory=dict)
    scope_hooks: dict[str, ScopeHook] = field(default_factory=dict)


_registry = _Registry()


def register_panel(
    key: str,
    title: str | Promise,
    template_name: str,
    context_function: PanelContext,
    permission: str | None = None,
    *,
    order: int = 100,
) -> None:
    """Adds (or replaces, so ``ready()`` may run twice) the panel ``key``."""
    _registry.panels[key] = Panel(key, title, template_name, context_function, permission, order)


def register_panel_action(
    panel_key: str, action_key: str, function: PanelAction, *, permission: str
) -> None:
    """A POST action for forms inside panel ``panel_key``; refused without ``permission``."""
    _registry.actions[(panel_key, action_key)] = RegisteredAction(
        panel_key, action_key, function, permission
    )


def register_search_hook(key: str, function: SearchHook) -> None:
    _registry.search_hooks[key] = function


def register_scope_hook(key: str, function: ScopeHook) -> None:
    _registry.scope_hooks[key] = function


def unregister(key: str) -> None:
    """Removes everything registered under ``key`` (tests)."""
    _registry.panels.pop(key, None)
    _registry.search_hooks.pop(key, None)
    _registry.scope_hooks.pop(key, None)
    for action_key in [name for name in _registry.actions if name[0] == key]:
        del _registry.actions[action_key]


def registered_panels() -> list[Panel]:
    return sorted(_registry.panels.values(), key=lambda panel: (panel.order, panel.key))


def panel_action(panel_key: str, action_key: str) -> RegisteredAction | None:
    return _registry.actions.get((panel_key, action_key))


# --- access ------------------------------------------------------------------------------


def staff_client_id(user: Any) -> int | None:
    """The client a staff user is tied to, or None for agency staff (who see every client)."""
    if getattr(user, "is_superuser", False):
        return None
    return StaffProfile.objects.filter(user_id=user.pk).values_list("client_id", flat=True).first()


def customers_of_client(client_id: int) -> QuerySet[Customer]:
    """Customers some higher app links to ``client_id`` (participants, claims, codes).

    With no scope hook registered nobody is linked, so client staff see no one: the scope
    fails closed.
    """
    condition = Q(pk__in=[])
    for hook in _registry.scope_hooks.values():
        condition |= Q(pk__in=hook(client_id))
    return Customer.objects.filter(condition)


def customers_visible_to(user: Any) -> QuerySet[Customer]:
    """The access gate for every helpdesk read of customers (admin list, page, actions)."""
    client_id = staff_client_id(user)
    if client_id is None:
        return Customer.objects.all()
    return customers_of_client(client_id)


# --- search ------------------------------------------------------------------------------


def customer_ids_from_search_hooks(term: str) -> Q:
    """A condition on Customer matching the customers the higher apps' hooks find."""
    condition = Q(pk__in=[])
    for key, hook in _registry.search_hooks.items():
        try:
            found = hook(term)
        except Exception:
            # One app's broken hook must not take the helpdesk's search down with it.
            logger.exception("customer search hook failed", extra={"hook": key})
            continue
        if isinstance(found, QuerySet):
            condition |= Q(pk__in=found)
        else:
            ids = [int(customer_id) for customer_id in found]
            if ids:
                condition |= Q(pk__in=ids)
    return condition


# --- the page ----------------------------------------------------------------------------


def panel_view(*, customer: Customer, user: Any, request: HttpRequest | None = None) -> PanelView:
    merged_ids = Customer.objects.filter(merged_into=customer).values_list("pk", flat=True)
    return PanelView(
        customer=customer,
        customer_ids=(customer.pk, *merged_ids),
        user=user,
        client_id=staff_client_id(user),
        request=request,
    )


def panels_render(*, view: PanelView) -> list[RenderedPanel]:
    """Every panel ``view.user`` may see, rendered, in order."""
    rendered = []
    for panel in registered_panels():
        if panel.permission and not view.user.has_perm(panel.permission):
            continue
        try:
            context = panel.context_function(view)
            html = render_to_string(
                panel.template_name,
                {**context, "customer": view.customer, "panel": panel, "view": view},
                request=view.request,
            )
        except Exception:
            logger.exception("customer panel failed", extra={"panel": panel.key})
            rendered.append(RenderedPanel(panel.key, panel.title, "", failed=True))
            continue
        rendered.append(RenderedPanel(panel.key, panel.title, html))
    return rendered
