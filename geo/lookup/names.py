"""Text normalisation for matching place names: pure functions.

RapidPro only lower-cases (goflow's default collation), so "Quebec" finds
"Québec" only through an alias. Here both names and messages go through the
same folding: compatibility forms and widths (NFKC), case (casefold), accents
(combining marks dropped), a few letters with no decomposition (ø, ł, đ, æ),
Arabic/Persian letter variants as goflow's ``arabic_variants`` collation, and
any run of punctuation, symbols or odd spaces (bidi marks, NBSP) becomes one
space. Words are what remains between spaces.
"""

from __future__ import annotations

import re
import unicodedata

# Letters NFD does not decompose, and the ASCII readers type for them.
LETTER_FOLDS = str.maketrans(
    {
        "ø": "o",
        "ł": "l",
        "đ": "d",
        "ħ": "h",
        "ı": "i",
        "ŀ": "l",
        "æ": "ae",
        "œ": "oe",
        "þ": "th",
        "ð": "d",
    }
)
# goflow's arabic_variants collation (Arabic, Farsi and Pashto equivalents).
ARABIC_FOLDS = str.maketrans(
    {
        "ي": "ی", "ى": "ی", "ې": "ی", "ۍ": "ی", "ئ": "ی", "ك": "ک", "ګ": "ک", "آ": "ا",
        "ټ": "ت", "ډ": "د", "ړ": "ر", "ڼ": "ن", "ښ": "ش", "ة": "ه",
    }
)  # fmt: skip
NOT_WORD = re.compile(r"[\W_]+")


def normalise_name(text: str) -> str:
    """Fold a name or a message for matching.

    >>> normalise_name("Je suis dans la province de l'Île-de-France")
    'je suis dans la province de l ile de france'
    >>> normalise_name("¡KIGALI!")
    'kigali'
    >>> normalise_name("Ｑｕｅｂｅｃ")
    'quebec'
    """
    text = unicodedata.normalize("NFKC", text).casefold()
    decomposed = unicodedata.normalize("NFD", text)
    text = "".join(char for char in decomposed if unicodedata.category(char) != "Mn")
    text = text.translate(LETTER_FOLDS).translate(ARABIC_FOLDS)
    text = "".join(_ascii_digit(char) for char in text)
    return " ".join(NOT_WORD.sub(" ", text).split())


def _ascii_digit(char: str) -> str:
    if char.isdigit() and not char.isascii():
        value = unicodedata.decimal(char, None)
        return str(value) if value is not None else char
    return char


def normalise_path(text: str) -> str:
    r"""Fold a ``Country > State > District`` path segment by segment.

    >>> normalise_path("RWANDA >KIGALI \t CITY.")
    'rwanda > kigali city'
    """
    return " > ".join(normalise_name(part) for part in text.strip().rstrip(".").split(">"))
