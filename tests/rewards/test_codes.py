import pytest
from hypothesis import given
from hypothesis import strategies as st

from rewards import codes

bodies = st.text(
    alphabet=codes.ALPHABET, min_size=codes.RANDOM_LENGTH, max_size=codes.RANDOM_LENGTH
)


def test_new_codes_are_valid_distinct_and_use_only_the_alphabet():
    generated = list(codes.new_codes(10_000))

    assert len(set(generated)) == 10_000
    assert all(len(code) == 13 and codes.is_valid(code) for code in generated)
    assert not set("".join(generated)) - set(codes.ALPHABET)


def test_alphabet_has_no_look_alikes_and_32_characters():
    assert len(codes.ALPHABET) == 32
    assert not set("01IO") & set(codes.ALPHABET)


@given(
    body=bodies,
    position=st.integers(0, codes.CODE_LENGTH - 1),
    replacement=st.sampled_from(codes.ALPHABET),
)
def test_every_single_character_typo_is_caught(body, position, replacement):
    code = body + codes.check_character(body)
    typo = code[:position] + replacement + code[position + 1 :]

    assert codes.is_valid(typo) == (typo == code)


@given(body=bodies, position=st.integers(0, codes.CODE_LENGTH - 2))
def test_swapped_neighbours_are_caught_unless_they_are_a_luhn_blind_pair(body, position):
    code = body + codes.check_character(body)
    first, second = code[position], code[position + 1]
    swapped = code[:position] + second + first + code[position + 2 :]
    # Luhn mod N misses exactly the swap of the values 0 and N-1 ("2" and "Z") and equal pairs.
    blind = first == second or {first, second} == {codes.ALPHABET[0], codes.ALPHABET[-1]}

    assert codes.is_valid(swapped) == blind


def test_normalise_accepts_spacing_dashes_and_lower_case():
    code = codes.new_code()

    assert codes.normalise(" " + codes.display(code).lower() + " ") == code
    assert codes.display(code) == f"{code[:4]}-{code[4:8]}-{code[8:12]}-{code[12]}"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("ABCD", "A code has 13 characters; this has 4."),
        ("ABCD-EFGH-JKL0-1", "Codes never contain 0, 1. Check the characters on your card."),
    ],
)
def test_normalise_explains_what_is_wrong(text, message):
    with pytest.raises(codes.CodeFormatError, match=message):
        codes.normalise(text)


def test_normalise_reports_a_typo():
    code = codes.new_code()
    wrong = ("3" if code[0] != "3" else "4") + code[1:]

    with pytest.raises(codes.CodeFormatError, match="typo"):
        codes.normalise(wrong)
