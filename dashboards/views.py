"""The dashboards' pages. Every view goes through dashboard_gate, which turns the user into a
Scope (dashboards.scoping); the figures come from dashboards.selectors under that scope."""

from collections.abc import Callable
from functools import wraps
from typing import Any

from django.conf import settings
from django.contrib.auth.views import redirect_to_login
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseBadRequest
from django.shortcuts import get_object_or_404, redirect, render, resolve_url
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_safe
from django.views.decorators.vary import vary_on_headers

from dashboards.campaigns import campaign_dashboard
from dashboards.forms import (
    BoardFilterForm,
    CampaignFilterForm,
    with_default_dates,
    with_default_months,
)
from dashboards.scoping import Scope, scope_for_user
from dashboards.selectors import loyalty_board

# The board asks for fresh figures this often (the issue allows at most every 10 s).
POLL_SECONDS = 10

View = Callable[..., HttpResponse]


def dashboard_gate(view: View) -> View:
    """Lets through signed-in staff with a verified second factor (when
    STAFF_OTP_REQUIRED) who may see a dashboard, with their scope as ``request.scope``.

    Anyone not signed in goes to the staff sign-in page (an htmx poll is told to load it as a
    whole page); a signed-in user without access gets 403.
    """

    @wraps(view)
    def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        user: Any = request.user
        signed_in = user.is_authenticated and (
            not settings.STAFF_OTP_REQUIRED or user.is_verified()
        )
        if not signed_in:
            if request.headers.get("HX-Request"):
                response = HttpResponse(status=204)
                response["HX-Redirect"] = resolve_url(settings.LOGIN_URL)
                return response
            return redirect_to_login(request.get_full_path())
        request.scope = scope_for_user(user)  # type: ignore[attr-defined]
        return view(request, *args, **kwargs)

    return wrapper


@require_safe
@never_cache
@dashboard_gate
def home(request: HttpRequest) -> HttpResponse:
    scope: Scope = request.scope  # type: ignore[attr-defined]
    return render(
        request,
        "dashboards/home.html",
        {
            "scope": scope,
            "may_view_loyalty_board": scope.may_view_loyalty_board and not scope.is_partner_limited,
            "loyalty_schemes": scope.loyalty_schemes().order_by("name", "pk"),
            "campaigns": scope.campaigns().select_related("client").order_by("name", "pk"),
        },
    )


def _board_context(request: HttpRequest) -> tuple[dict[str, Any], int]:
    scope: Scope = request.scope  # type: ignore[attr-defined]
    scope.require_loyalty_board()
    data = with_default_months(request.GET)
    form = BoardFilterForm(data, scope=scope)
    context: dict[str, Any] = {"form": form, "board": None, "poll_seconds": POLL_SECONDS}
    if not form.is_valid():
        return context, 400
    context["board"] = loyalty_board(scope=scope, filters=form.filters())
    context["query"] = data.urlencode()
    return context, 200


@require_safe
@never_cache
@dashboard_gate
def loyalty_board_page(request: HttpRequest) -> HttpResponse:
    context, status = _board_context(request)
    return render(request, "dashboards/loyalty_board.html", context, status=status)


@require_safe
@never_cache
@vary_on_headers("HX-Request")
@dashboard_gate
def loyalty_board_fragment(request: HttpRequest) -> HttpResponse:
    """The board without the page around it, for the htmx poll."""
    context, status = _board_context(request)
    if context["board"] is None:
        return HttpResponseBadRequest("The filters are not valid.", content_type="text/plain")
    return render(request, "dashboards/_loyalty_board.html", context, status=status)


# -- the client campaign dashboard ----------------------------------------------------------


def _campaign_context(request: HttpRequest, campaign_id: int) -> tuple[dict[str, Any], int]:
    scope: Scope = request.scope  # type: ignore[attr-defined]
    # Another client's or partner's campaign is looked up in the scope and not found: 404,
    # the same answer as for an id that does not exist.
    campaign = get_object_or_404(
        scope.campaigns().select_related("review_settings__channel_partner"), pk=campaign_id
    )
    data = with_default_dates(request.GET)
    data["campaign"] = str(campaign.pk)
    form = CampaignFilterForm(data, scope=scope, campaign=campaign)
    context: dict[str, Any] = {
        "form": form,
        "campaign": campaign,
        "dashboard": None,
        "poll_seconds": POLL_SECONDS,
        "scope": scope,
    }
    if not form.is_valid():
        return context, 400
    context["dashboard"] = campaign_dashboard(
        scope=scope, campaign=campaign, filters=form.campaign_filters()
    )
    query = data.copy()
    query.pop("campaign", None)
    context["query"] = query.urlencode()
    return context, 200


@require_safe
@never_cache
@dashboard_gate
def campaigns(request: HttpRequest) -> HttpResponse:
    """The campaigns in scope; with ``?campaign=<id>`` (the filter form's campaign switch)
    the chosen campaign's dashboard, keeping the dates and the partner."""
    scope: Scope = request.scope  # type: ignore[attr-defined]
    chosen = request.GET.get("campaign")
    if chosen:
        if not chosen.isdigit() or not scope.campaigns().filter(pk=int(chosen)).exists():
            raise Http404("No such campaign.")
        query = request.GET.copy()
        for name in ("campaign", "prize"):  # a prize belongs to the campaign left behind
            query.pop(name, None)
        target = resolve_url("dashboards:campaign", campaign_id=int(chosen))
        return redirect(f"{target}?{query.urlencode()}" if query else target)
    return render(
        request,
        "dashboards/campaigns.html",
        {"campaigns": scope.campaigns().select_related("client").order_by("name", "pk")},
    )


@require_safe
@never_cache
@dashboard_gate
def campaign_page(request: HttpRequest, campaign_id: int) -> HttpResponse:
    context, status = _campaign_context(request, campaign_id)
    return render(request, "dashboards/campaign_dashboard.html", context, status=status)


@require_safe
@never_cache
@vary_on_headers("HX-Request")
@dashboard_gate
def campaign_fragment(request: HttpRequest, campaign_id: int) -> HttpResponse:
    """The campaign dashboard without the page around it, for the htmx poll."""
    context, status = _campaign_context(request, campaign_id)
    if context["dashboard"] is None:
        return HttpResponseBadRequest("The filters are not valid.", content_type="text/plain")
    return render(request, "dashboards/_campaign_dashboard.html", context, status=status)
