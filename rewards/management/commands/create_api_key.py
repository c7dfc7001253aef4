from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from rewards.models import Merchant
from rewards.services.api_keys import api_key_create


class Command(BaseCommand):
    help = (
        "Creates an integrator API key for a merchant and prints it once (only its hash is kept)."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--merchant", required=True, help="The merchant's code.")
        parser.add_argument("--name", default="", help="What the key is for, e.g. 'POS'.")

    def handle(self, *args: Any, **options: Any) -> None:
        merchant = Merchant.objects.filter(code=options["merchant"]).first()
        if merchant is None:
            raise CommandError(f"No merchant with code {options['merchant']!r}.")
        _api_key, key = api_key_create(
            merchant=merchant, name=options["name"], actor="manage.py create_api_key"
        )
        self.stdout.write(key)
        self.stderr.write(
            f"Key for {merchant.code}: shown only now. Send it as 'Authorization: Api-Key <key>'."
        )
