"""Who sees what on the dashboards: one function turns a user into a Scope, and every
dashboard view, API and export reads through it. Views never filter by owner themselves.

| user | scope |
| --- | --- |
| agency staff (no client on their profile) with the permission, superusers | every client |
| client manager | their client's schemes |
| channel partner | their client's schemes, and of those only the rows of their partner |
| anyone else (customers, staff without the permission, a misconfigured profile) | refused |

A scope fails closed: rows that carry no channel-partner dimension (the loyalty ledger, for
one) are invisible to a partner-limited scope rather than shown whole.
"""

from dataclasses import dataclass
from typing import Any, TypeVar

from django.core.exceptions import PermissionDenied
from django.db.models import Model, Q, QuerySet

from claims.models import Claim
from crm.middleware import is_staff_user
from crm.models import StaffProfile
from crm.roles import Role, user_roles
from rewards.models import CodeBatch, Scheme

VIEW_DASHBOARD = "dashboards.view_dashboard"
VIEW_LOYALTY_BOARD = "dashboards.view_loyalty_board"
# A campaign's channel partner, as verification defines it (its review settings name it):
# the path from a scheme, and from a row carrying a ``scheme``.
SCHEME_PARTNER_FIELD = "review_settings__channel_partner"
CAMPAIGN_PARTNER_FIELD = f"scheme__{SCHEME_PARTNER_FIELD}"
# A claim's own partner, set when it was created (its code batch's, else the campaign's).
CLAIM_PARTNER_FIELD = "channel_partner"
# A printed code's partner: its batch's, or for a batch naming none, the campaign's.
CODE_PARTNER_FIELDS = ("batch__channel_partner", CAMPAIGN_PARTNER_FIELD)
CAMPAIGN_KINDS = (Scheme.Kind.INSTANT_WIN, Scheme.Kind.LUCKY_DRAW)

ModelT = TypeVar("ModelT", bound=Model)


class NoDashboardAccess(PermissionDenied):
    """The user may not see any dashboard (views answer 403)."""


@dataclass(frozen=True, slots=True)
class Scope:
    """What one user may see. ``client_id`` None means every client; ``channel_partner_id``
    set means only that partner's rows of the client."""

    user_id: int
    client_id: int | None
    channel_partner_id: int | None
    may_view_loyalty_board: bool

    @property
    def is_everything(self) -> bool:
        return self.client_id is None

    @property
    def is_partner_limited(self) -> bool:
        return self.channel_partner_id is not None

    def schemes(self) -> QuerySet[Scheme]:
        schemes = Scheme.objects.all()
        if self.client_id is not None:
            schemes = schemes.filter(client_id=self.client_id)
        return schemes

    def loyalty_schemes(self) -> QuerySet[Scheme]:
        """The loyalty schemes whose whole figures this scope may see: none for a partner,
        since loyalty rows do not say which partner they belong to."""
        if self.is_partner_limited:
            return Scheme.objects.none()
        return self.schemes().filter(kind=Scheme.Kind.LOYALTY)

    def campaigns(self) -> QuerySet[Scheme]:
        """The instant-win and lucky-draw campaigns this scope may open: a partner-limited
        scope only those where something is its partner's: the review settings name it, or
        a claim or a code batch of the campaign is its."""
        campaigns = self.schemes().filter(kind__in=CAMPAIGN_KINDS)
        if self.is_partner_limited:
            partner_id = self.channel_partner_id
            campaigns = campaigns.filter(
                Q(**{f"{SCHEME_PARTNER_FIELD}_id": partner_id})
                | Q(pk__in=Claim.objects.filter(channel_partner_id=partner_id).values("scheme_id"))
                | Q(
                    pk__in=CodeBatch.objects.filter(channel_partner_id=partner_id).values(
                        "scheme_id"
                    )
                )
            )
        return campaigns

    def restrict(
        self,
        rows: QuerySet[ModelT],
        *,
        scheme_field: str = "scheme",
        partner_field: str | tuple[str, ...] | None = None,
    ) -> QuerySet[ModelT]:
        """``rows`` narrowed to this scope. ``scheme_field`` is the lookup path from a row
        to its scheme (``"scheme"``, ``"code__batch__scheme"``); ``partner_field`` the path
        to its channel partner (a tuple: the first of those paths that names one), or None
        when the rows have none (then a partner-limited scope sees nothing of them)."""
        if self.client_id is not None:
            rows = rows.filter(**{f"{scheme_field}__client_id": self.client_id})
        if self.channel_partner_id is not None:
            if partner_field is None:
                return rows.none()
            rows = rows.filter(partner_is(partner_field, self.channel_partner_id))
        return rows

    def require_loyalty_board(self) -> None:
        if not self.may_view_loyalty_board or self.is_partner_limited:
            raise NoDashboardAccess("The loyalty operator board is not open to this user.")


def partner_is(partner_field: str | tuple[str, ...], partner_id: int) -> Q:
    """The rows whose partner is ``partner_id``: by one path, or by the first of several
    paths that names a partner (a code's batch partner, else its campaign's)."""
    paths = (partner_field,) if isinstance(partner_field, str) else partner_field
    condition = Q()
    unnamed = Q()
    for path in paths:
        condition |= unnamed & Q(**{f"{path}_id": partner_id})
        unnamed &= Q(**{f"{path}__isnull": True})
    return condition


def scope_for_user(user: Any) -> Scope:
    """The Scope of ``user``; raises NoDashboardAccess for anyone who may see no dashboard.

    Authentication state (the second factor) is the caller's concern: see
    dashboards.views.dashboard_gate and the API's permission class.
    """
    if not getattr(user, "is_active", False) or not is_staff_user(user):
        raise NoDashboardAccess("Dashboards are for signed-in staff.")
    if not user.has_perm(VIEW_DASHBOARD):
        raise NoDashboardAccess("This user may not open the dashboards.")
    may_view_loyalty_board = user.has_perm(VIEW_LOYALTY_BOARD)
    if user.is_superuser:
        return Scope(user.pk, None, None, may_view_loyalty_board)
    profile = StaffProfile.objects.filter(user=user).first()
    client_id = profile.client_id if profile is not None else None
    partner_id = profile.channel_partner_id if profile is not None else None
    roles = user_roles(user)
    # A client-side role without its client (or partner) would otherwise read as agency
    # staff and see every client: refuse it instead.
    if Role.CLIENT_MANAGER in roles and client_id is None:
        raise NoDashboardAccess("This client manager's profile names no client.")
    if Role.CHANNEL_PARTNER in roles and partner_id is None:
        raise NoDashboardAccess("This channel partner's profile names no partner.")
    return Scope(user.pk, client_id, partner_id, may_view_loyalty_board)
