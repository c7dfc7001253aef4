"""The customer's preferred language in the portal.

The site's language switcher (Django's ``set_language``, in every page's header) keeps the
visitor's choice in the language cookie. The portal remembers it on the customer's crm
record (``Customer.preferred_language``, which their messages are sent in) and brings it
back when they sign in, on any device:

- On sign-in, a language picked with the switcher before signing in is remembered; without
  one, the customer's preferred language is switched on (the language cookie) when the
  browser's own setting asks for another.
- While signed in, the first portal page after a switch remembers the new choice. The
  session notes the language last seen, so only a switch made in this session counts (an
  old cookie on another device does not overwrite a newer choice).
"""

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.utils import translation
from django.utils.translation import gettext_noop

from claims.services.customers import customer_language_set
from crm.models import Customer

SESSION_KEY = "portal_language"

# The site's page frame (templates/base.html: skip link, header, language switcher) is shared
# with the back office and has no catalog of its own; portal customers read it on every
# page, so its words are translated in this app's catalog.
PAGE_FRAME_TEXT = (
    gettext_noop("Skip to content"),
    gettext_noop("Reward campaigns"),
    gettext_noop("Account and language"),
    gettext_noop("Language"),
)


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
    request.session[SESSION_KEY] = language
    if language == translation.get_language():
        # The browser already asks for it (its cookie or its own setting): nothing to switch.
        return
    translation.activate(language)
    request.LANGUAGE_CODE = language
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
