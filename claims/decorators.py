from collections.abc import Callable
from functools import wraps
from urllib.parse import urlencode

from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.urls import reverse

from claims.language import language_remember_switch
from claims.selectors import portal_customer_for_user


def customer_required(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    """Lets only a signed-in portal customer through (as ``request.customer``); everyone
    else, staff included, is sent to the portal's sign-in page. A language the customer
    switched to is remembered on the way (claims.language)."""

    @wraps(view)
    def wrapper(request: HttpRequest, *args: object, **kwargs: object) -> HttpResponse:
        customer = portal_customer_for_user(request.user)
        if customer is None:
            query = urlencode({"next": request.get_full_path()})
            return redirect(f"{reverse('portal:sign-in')}?{query}")
        request.customer = customer  # type: ignore[attr-defined]
        language_remember_switch(request, customer)
        return view(request, *args, **kwargs)

    return wrapper
