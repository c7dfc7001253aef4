"""The public campaign page: what a campaign is, when it runs, and the proof that each of its
lucky draws is fair. No sign-in: anyone may check a draw.

Everything about a draw comes from ``rewards.selectors_draws.draws_public_for_scheme``,
which never returns a seed before its draw has run and names no customer (winners are
shown as entry ids only).
"""

from typing import Any

from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET

from rewards.models import Draw, Scheme
from rewards.selectors_draws import draws_public_for_scheme

# Code and draw campaigns have a public page; a loyalty scheme is not a campaign here.
PUBLIC_CAMPAIGN_KINDS = (Scheme.Kind.INSTANT_WIN, Scheme.Kind.LUCKY_DRAW)


def _public_draw(facts: dict[str, Any], own_name: str) -> dict[str, Any]:
    """The facts as the page shows them: a title in the reader's language when the draw
    has no name of its own, and the drawn entries split into winners and reserves."""
    drawn = facts.get("drawn_entry_ids", [])
    winners_count = facts["winners_count"]
    return {
        **facts,
        "title": own_name or _("Draw %(number)s") % {"number": facts["id"]},
        "winner_entry_ids": drawn[:winners_count],
        "reserve_entry_ids": drawn[winners_count:],
        "verify_command": f"python manage.py verify_draw {facts['id']}",
        "seed_check_command": (
            "python3 -c \"import hashlib; print(hashlib.sha256(bytes.fromhex('"
            f"{facts['seed']}')).hexdigest())\""
            if facts["is_drawn"]
            else ""
        ),
    }


@require_GET
def campaign(request: HttpRequest, scheme_code: str) -> HttpResponse:
    scheme = Scheme.objects.filter(code=scheme_code, kind__in=PUBLIC_CAMPAIGN_KINDS).first()
    if scheme is None:
        raise Http404
    facts = draws_public_for_scheme(scheme=scheme)
    own_names = dict(
        Draw.objects.filter(pk__in=[draw["id"] for draw in facts]).values_list("pk", "name")
    )
    context = {
        "scheme": scheme,
        "draws": [_public_draw(draw, own_names.get(draw["id"], "")) for draw in facts],
    }
    return render(request, "claims/campaign.html", context)
