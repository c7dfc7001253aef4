"""Printed campaign codes: generation, check character and normalisation.

A code is 12 random characters (60 bits from ``secrets``) from an alphabet without
look-alikes (no 0, 1, I or O), followed by one Luhn mod 32 check character. The check catches
every single mistyped character and most swapped neighbours before any database lookup.
Codes are shown in groups of four (``ABCD-EFGH-JKLM-N``); input ignores case, spaces and
dashes.
"""

import secrets
from collections.abc import Iterator

ALPHABET = "23456789ABCDEFGHJKLMNPQRSTUVWXYZ"
BASE = len(ALPHABET)  # 32: five bits per character
RANDOM_LENGTH = 12  # 60 bits of randomness
CODE_LENGTH = RANDOM_LENGTH + 1
_VALUE = {character: index for index, character in enumerate(ALPHABET)}


class CodeFormatError(ValueError):
    """The text cannot be a code: wrong length, a character codes never use, or a typo."""


def check_character(body: str) -> str:
    """The Luhn mod N check character for ``body`` (characters of ALPHABET)."""
    total = 0
    factor = 2
    for character in reversed(body):
        addend = factor * _VALUE[character]
        total += addend // BASE + addend % BASE
        factor = 1 if factor == 2 else 2
    return ALPHABET[(BASE - total % BASE) % BASE]


def is_valid(code: str) -> bool:
    return (
        len(code) == CODE_LENGTH
        and all(character in _VALUE for character in code)
        and check_character(code[:-1]) == code[-1]
    )


def normalise(text: str) -> str:
    """The canonical code for what a person typed, or CodeFormatError saying what is wrong."""
    code = "".join(text.split()).replace("-", "").upper()
    if len(code) != CODE_LENGTH:
        raise CodeFormatError(f"A code has {CODE_LENGTH} characters; this has {len(code)}.")
    unknown = sorted({character for character in code if character not in _VALUE})
    if unknown:
        raise CodeFormatError(
            "Codes never contain " + ", ".join(unknown) + ". Check the characters on your card."
        )
    if check_character(code[:-1]) != code[-1]:
        raise CodeFormatError("This code has a typo. Check each character and try again.")
    return code


def display(code: str) -> str:
    """The code in groups of four for printing and screens."""
    return "-".join(code[index : index + 4] for index in range(0, len(code), 4))


def new_code() -> str:
    value = secrets.randbits(5 * RANDOM_LENGTH)
    body = "".join(ALPHABET[(value >> (5 * position)) & 0x1F] for position in range(RANDOM_LENGTH))
    return body + check_character(body)


def new_codes(count: int) -> Iterator[str]:
    """``count`` distinct new codes (distinct within this call; the table's unique index
    guards against the astronomically rare clash with an earlier batch)."""
    seen: set[str] = set()
    while len(seen) < count:
        code = new_code()
        if code not in seen:
            seen.add(code)
            yield code
