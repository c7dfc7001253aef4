"""Prize inventory: taking a prize out of stock when it is won, and putting it back.

``Prize.quantity_awarded`` counts prizes won (an instant-win code entered, a draw winner
drawn). Both functions are one conditional ``UPDATE ... RETURNING``: the row lock PostgreSQL
takes for the update serialises concurrent callers, and the ``WHERE`` re-checks the stock
after the lock, so twenty customers racing for the last five prizes get exactly five. The
``prize_inventory_not_negative`` CHECK constraint backs this in the database.

Neither function writes an audit event of its own: call them inside the transaction of the
use case (code entry, draw, claim rejection), whose audit event names the prize.
"""

from dataclasses import dataclass

from django.db import connection

from rewards.models import Prize
from rewards.services.errors import InvalidRequest, RewardsError


class PrizeOutOfStock(RewardsError):
    code = "prize_out_of_stock"


@dataclass(frozen=True)
class PrizeStock:
    prize_id: int
    quantity_total: int
    quantity_awarded: int

    @property
    def quantity_left(self) -> int:
        return self.quantity_total - self.quantity_awarded


def prize_reserve(*, prize_id: int, quantity: int = 1) -> PrizeStock:
    """Counts ``quantity`` more of the prize as won, or raises PrizeOutOfStock (nothing
    changed) when fewer than ``quantity`` are left."""
    if quantity < 1:
        raise InvalidRequest("Reserve at least one prize.")
    with connection.cursor() as cursor:
        cursor.execute(
            "UPDATE rewards_prize SET quantity_awarded = quantity_awarded + %s "
            "WHERE id = %s AND quantity_awarded + %s <= quantity_total "
            "RETURNING quantity_total, quantity_awarded",
            [quantity, prize_id, quantity],
        )
        row = cursor.fetchone()
    if row is None:
        prize = Prize.objects.filter(pk=prize_id).only("name").first()
        if prize is None:
            raise InvalidRequest(f"There is no prize {prize_id}.")
        raise PrizeOutOfStock(f"{prize.name} is out of stock.")
    return PrizeStock(prize_id=prize_id, quantity_total=row[0], quantity_awarded=row[1])


def prize_release(*, prize_id: int, quantity: int = 1) -> PrizeStock:
    """Puts ``quantity`` won prizes back in stock (a win that will not be delivered).

    Refuses to release more than were won. For a lucky-draw winner call
    ``rewards.services.draws.draw_result_forfeit`` instead: it hands the prize to the next
    reserve and releases only when no reserve is left.
    """
    if quantity < 1:
        raise InvalidRequest("Release at least one prize.")
    with connection.cursor() as cursor:
        cursor.execute(
            "UPDATE rewards_prize SET quantity_awarded = quantity_awarded - %s "
            "WHERE id = %s AND quantity_awarded >= %s "
            "RETURNING quantity_total, quantity_awarded",
            [quantity, prize_id, quantity],
        )
        row = cursor.fetchone()
    if row is None:
        if not Prize.objects.filter(pk=prize_id).exists():
            raise InvalidRequest(f"There is no prize {prize_id}.")
        raise InvalidRequest("More prizes would be released than were ever won.")
    return PrizeStock(prize_id=prize_id, quantity_total=row[0], quantity_awarded=row[1])
