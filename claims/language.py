"""The customer's preferred language in the portal.

The site's language switcher (Django's ``set_language``, in every page's header) keeps the
visitor's choice in the language cookie. The portal remembers it on the customer's crm
record (``Customer.preferred_language``, which their messages are sent in) and brings it
back when they sign in, on any device:

- On sign-in, a language picked with the switcher before signing in is remembered; without
  one, the customer's preferred language is switched on (page, cookie) whatever the
  browser's own setting says.
- While signed in, the first portal page after a switch remembers the new choice. The
  session notes the language last seen, so only a switch made in this session counts (an
  old cookie on another device does not overwrite a newer choice).
"""

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.utils import translation

from claims.services.customers import customer_language_set
from crm.models import Customer

SESSION_KEY = "portal_language"


def chosen_language(request: HttpRequest) -> str | None:
    """The language the visitor picked with the switcher (the language cookie), if any."""
    value = request.COOKIES.get(settings.LANGUAGE_COOKIE_NAME, "")
    return value if value in dict(settings.LANGUAGES) else None


def language_activate_for_customer(
    request: HttpRequest, response: HttpResponse, customer: Customer
) -> None:
    """Switches the portal to the customer's preferred language for this and later requests.

    Call right after signing the customer in, with the response that will be sent.
    """
    language = customer.preferred_language
    if language not in dict(settings.LANGUAGES):
        return
    translation.activate(language)
    request.LANGUAGE_CODE = language
    request.session[SESSION_KEY] = language
    response.set_cookie(
        settings.LANGUAGE_COOKIE_NAME,
        language,
        max_age=settings.LANGUAGE_COOKIE_AGE,
        path=settings.LANGUAGE_COOKIE_PATH,
        domain=settings.LANGUAGE_COOKIE_DOMAIN,
        secure=settings.LANGUAGE_COOKIE_SECURE,
        httponly=settings.LANGUAGE_COOKIE_HTTPONLY,
        samesite=settings.LANGUAGE_COOKIE_SAMESITE,
    )


def language_remember_switch(request: HttpRequest, customer: Customer) -> None:
    """Remembers a language the signed-in customer switched to in this session."""
    chosen = chosen_language(request)
    if chosen is None or request.session.get(SESSION_KEY) == chosen:
        return
    if customer.preferred_language != chosen:
        customer_language_set(customer=customer, language=chosen, actor=request.user)
    request.session[SESSION_KEY] = chosen
