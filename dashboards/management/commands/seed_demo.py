"""Demo data for a local run: a client with two channel partners, an instant-win campaign
with prizes and 1,000 printed codes (some winning), a lucky-draw campaign with codes and a
scheduled draw, a loyalty scheme with two shops, two offers and eight weeks of purchases, a
few customers and one user per role. It lives in dashboards, the top app, because it writes
through every app's services (lower apps never import higher ones).

Idempotent (run it as often as you like: everything is found by its code and brought back to
the demo state) and refused outside DEBUG / embedded mode, since it creates users with known
passwords.
"""

from datetime import timedelta

from django.conf import settings
from django.contrib.auth.models import Group, User
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction
from django.utils import timezone

from crm.models import ChannelPartner, Client, Customer, StaffProfile
from crm.roles import Role
from rewards.codes import display
from rewards.models import (
    Code,
    CodeBatch,
    Draw,
    Merchant,
    Offer,
    Participant,
    Prize,
    Scheme,
    SchemeMerchant,
)
from rewards.services.codes import code_batch_generate
from rewards.services.draws import draw_schedule
from rewards.services.events import EventInput, event_submit
from rewards.services.participants import participant_join
from rewards.services.spends import spend_create

DEMO_PASSWORD = "demo-campaigns-2026"  # noqa: S105 - demo only; the command refuses production

DEMO_USERS = [
    # username, role, tied to the client?, channel partner code
    ("operator", Role.OPERATOR, False, None),
    ("helpdesk", Role.HELPDESK, False, None),
    ("verifier", Role.VERIFIER, False, None),
    ("checker", Role.CHECKER, False, None),
    ("manager", Role.CLIENT_MANAGER, True, None),
    ("partner", Role.CHANNEL_PARTNER, True, "north"),
]

DEMO_INSTANT_WIN_CODES = 1_000
# Prizes pre-assigned to the demo scratch cards (the rest of the 1,000 codes win nothing).
DEMO_PRIZE_PLAN = {"Bluetooth speaker": 5, "Cinema voucher": 30, "500 bonus points": 100}
DEMO_LUCKY_DRAW_CODES = 200

DEMO_CUSTOMERS = [
    ("Astrid", "Lindqvist", "+46701234501", "astrid@example.com", "sv"),
    ("Björn", "Ek", "+46701234502", "", "sv"),
    ("Carla", "Moreno", "", "carla@example.com", "en"),
    ("David", "Okafor", "+447700900104", "david@example.com", "en"),
    ("Elin", "Nyström", "+46701234505", "elin@example.com", "sv"),
]


class Command(BaseCommand):
    help = "Loads the demo data (DEBUG or embedded mode only). Safe to run repeatedly."

    def handle(self, *args: object, **options: object) -> None:
        if not (settings.DEBUG or settings.EMBEDDED):
            raise CommandError(
                "seed_demo creates users with a known password, so it only runs with DEBUG=true "
                "or in embedded mode (make run). Refusing on production settings."
            )
        with transaction.atomic():
            client = self._client()
            self._campaigns(client)
            self._lucky_draw(client)
            self._customers()
            self._users(client)
            self._loyalty_activity()
        self._print_summary()

    def _client(self) -> Client:
        client, _ = Client.objects.update_or_create(
            code="nordic-snacks", defaults={"name": "Nordic Snacks AB", "is_active": True}
        )
        for code, name in (("north", "Region North"), ("south", "Region South")):
            ChannelPartner.objects.update_or_create(
                client=client,
                code=code,
                defaults={"name": name, "kind": ChannelPartner.Kind.REGION},
            )
        return client

    def _campaigns(self, client: Client) -> None:
        now = timezone.now()
        start = now.replace(hour=0, minute=0, second=0, microsecond=0) - timedelta(days=14)
        instant_win, _ = Scheme.objects.update_or_create(
            code="summer-scratch",
            defaults={
                "client": client,
                "name": "Summer scratch & win",
                "kind": Scheme.Kind.INSTANT_WIN,
                "unit": Scheme.Unit.POINTS,
                "currency": "",
                "starts_at": start,
                "ends_at": start + timedelta(days=90),
                "claim_deadline_at": start + timedelta(days=120),
            },
        )
        for name, kind, value, quantity in (
            ("Bluetooth speaker", Prize.Kind.PHYSICAL, 0, 50),
            ("Cinema voucher", Prize.Kind.E_VOUCHER, 0, 300),
            ("500 bonus points", Prize.Kind.POINTS, 500, 1000),
        ):
            Prize.objects.update_or_create(
                scheme=instant_win,
                name=name,
                defaults={"kind": kind, "value_minor": value, "quantity_total": quantity},
            )
        if not CodeBatch.objects.filter(scheme=instant_win).exists():
            prizes = dict(Prize.objects.filter(scheme=instant_win).values_list("name", "pk"))
            code_batch_generate(
                scheme=instant_win,
                size=DEMO_INSTANT_WIN_CODES,
                actor="seed_demo",
                prize_plan={prizes[name]: count for name, count in DEMO_PRIZE_PLAN.items()},
                inline=True,
            )
        Scheme.objects.update_or_create(
            code="snack-club",
            defaults={
                "client": client,
                "name": "Snack Club loyalty",
                "kind": Scheme.Kind.LOYALTY,
                "unit": Scheme.Unit.POINTS,
                "currency": "",
                "starts_at": start,
                "ends_at": None,
                "claim_deadline_at": None,
            },
        )

    def _loyalty_activity(self) -> None:
        """Two shops, two effective offers and eight weeks of purchases and a spend per member,
        posted through the services the API uses: replays post nothing, so this stays
        idempotent, and the operator board has real figures to show."""
        scheme = Scheme.objects.get(code="snack-club")
        shops = []
        for code, name in (
            ("snack-shop-north", "Snack Shop North"),
            ("snack-shop-south", "Snack Shop South"),
        ):
            merchant, _ = Merchant.objects.get_or_create(code=code, defaults={"name": name})
            SchemeMerchant.objects.get_or_create(scheme=scheme, merchant=merchant)
            shops.append(merchant)
        # Demo fixtures are made effective directly; real offers go through maker-checker.
        for code, name, classification, rules in (
            (
                "ten-percent-back",
                "10% back",
                "purchase_amount",
                {"award": {"type": "percentage", "basis_points": 1000}},
            ),
            (
                "every-fifth-visit",
                "Every 5th visit: 100 points",
                "purchase_count",
                {"award": {"type": "fixed", "amount_minor": 100}, "every_nth_purchase": 5},
            ),
        ):
            Offer.objects.update_or_create(
                scheme=scheme,
                code=code,
                defaults={
                    "name": name,
                    "classification": classification,
                    "rules": rules,
                    "status": Offer.Status.EFFECTIVE,
                },
            )
        now = timezone.now()
        # Purchases sit at noon of whole days and are keyed by their date, so a rerun posts
        # the same events again (replays, nothing new) and a later day only adds new dates.
        noon = now.replace(hour=12, minute=0, second=0, microsecond=0)
        customers = Customer.objects.filter(
            phone__in=[phone for _f, _l, phone, _e, _lang in DEMO_CUSTOMERS if phone]
        ).order_by("pk")
        for index, customer in enumerate(customers):
            participant = Participant.objects.filter(scheme=scheme, customer=customer).first()
            if participant is None:
                participant = participant_join(
                    scheme=scheme,
                    customer=customer,
                    actor="seed_demo",
                    sign_up_merchant=shops[index % 2],
                    signed_up_at=now - timedelta(days=60 - index),
                )
            for day in range(0, 56, 4 + index):
                occurred_at = noon - timedelta(days=56 - day)
                event_submit(
                    event=EventInput(
                        source="demo",
                        external_id=f"demo-{customer.pk}-{occurred_at:%Y-%m-%d}",
                        type="purchase",
                        participant_id=participant.pk,
                        occurred_at=occurred_at,
                        merchant=shops[(index + day) % 2],
                        total_minor=1500 + 250 * index,
                    )
                )
            spend_create(
                participant_id=participant.pk,
                amount_minor=200,
                merchant=shops[0],
                idempotency_key=f"demo-spend-{customer.pk}",
            )

    def _lucky_draw(self, client: Client) -> None:
        """A lucky-draw campaign with printed codes and a draw whose entries close in a week
        (its seed hash is published at once); both only the first time."""
        now = timezone.now()
        start = now.replace(hour=0, minute=0, second=0, microsecond=0) - timedelta(days=7)
        lucky_draw, _ = Scheme.objects.update_or_create(
            code="autumn-draw",
            defaults={
                "client": client,
                "name": "Autumn lucky draw",
                "kind": Scheme.Kind.LUCKY_DRAW,
                "unit": Scheme.Unit.POINTS,
                "currency": "",
                "starts_at": start,
                "ends_at": start + timedelta(days=60),
                "claim_deadline_at": start + timedelta(days=90),
            },
        )
        trip, _ = Prize.objects.update_or_create(
            scheme=lucky_draw,
            name="Weekend trip for two",
            defaults={"kind": Prize.Kind.PHYSICAL, "value_minor": 0, "quantity_total": 4},
        )
        if not CodeBatch.objects.filter(scheme=lucky_draw).exists():
            code_batch_generate(
                scheme=lucky_draw, size=DEMO_LUCKY_DRAW_CODES, actor="seed_demo", inline=True
            )
        if not Draw.objects.filter(scheme=lucky_draw).exists():
            draw_schedule(
                scheme=lucky_draw,
                prize=trip,
                name="Autumn draw, week 1",
                winners_count=1,
                reserves_count=2,
                entries_close_at=now.replace(microsecond=0) + timedelta(days=7),
                actor="seed_demo",
            )

    def _customers(self) -> None:
        for first_name, last_name, phone, email, language in DEMO_CUSTOMERS:
            lookup = {"phone": phone} if phone else {"email": email}
            Customer.objects.update_or_create(
                **lookup,
                defaults={
                    "first_name": first_name,
                    "last_name": last_name,
                    "email": email,
                    "phone": phone,
                    "preferred_language": language,
                },
            )

    def _users(self, client: Client) -> None:
        for username, role, tied_to_client, partner_code in DEMO_USERS:
            user, _ = User.objects.get_or_create(username=username)
            user.email = f"{username}@example.com"
            user.is_staff = role in {Role.OPERATOR, Role.HELPDESK}
            user.is_active = True
            user.set_password(DEMO_PASSWORD)
            user.save()
            user.groups.set([Group.objects.get(name=role)])
            partner = (
                ChannelPartner.objects.get(client=client, code=partner_code)
                if partner_code
                else None
            )
            StaffProfile.objects.update_or_create(
                user=user,
                defaults={"client": client if tied_to_client else None, "channel_partner": partner},
            )

    def _print_summary(self) -> None:
        self.stdout.write(self.style.SUCCESS("Demo data is loaded."))
        unused = Code.objects.filter(status=Code.Status.ISSUED).select_related("prize")
        winning = unused.filter(scheme__code="summer-scratch", prize__isnull=False).first()
        losing = unused.filter(scheme__code="summer-scratch", prize__isnull=True).first()
        draw_code = unused.filter(scheme__code="autumn-draw").first()
        for label, code in (
            ("winning scratch code", winning),
            ("non-winning scratch code", losing),
            ("lucky-draw code", draw_code),
        ):
            if code is not None:
                prize = f" ({code.prize.name})" if code.prize else ""
                self.stdout.write(f"  Try a {label}: {display(code.value)}{prize}")
        self.stdout.write(f"Demo sign-ins (password for all: {DEMO_PASSWORD}):")
        for username, role, _tied, partner_code in DEMO_USERS:
            scope = f" (channel partner {partner_code})" if partner_code else ""
            self.stdout.write(f"  {username:<10} {Role(role).label}{scope}")
