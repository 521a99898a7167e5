"""Text normalisation for matching place names: pure functions.

RapidPro only lower-cases (goflow's default collation), so "Quebec" finds
"Québec" only through an alias. Here both names and messages go through the
same folding: compatibility forms and widths (NFKC), case (casefold), accents
(combining marks dropped), a few letters with no decomposition (ø, ł, đ, æ),
Arabic/Persian letter variants as goflow's ``arabic_variants`` collation, and
any run of punctuation, symbols or odd spaces (bidi marks, NBSP) becomes one
space. Words are what remains between spaces. Spacing vowel signs (Bengali,
Devanagari, Sinhala …) belong to their word: they are letters to a reader.

``strip_level_words`` takes "Province de", "District", "County" … off the ends
of a folded name, so "Kerry" finds "County Kerry" and "Baldones District" finds
"Baldones novads".
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


def _mark_ranges() -> str:
    r"""Return a regex class body for the spacing and enclosing marks ``\w`` leaves out."""
    ranges: list[tuple[int, int]] = []
    for code in range(0x20000):
        if unicodedata.category(chr(code)) in ("Mc", "Me"):
            if ranges and ranges[-1][1] == code - 1:
                ranges[-1] = (ranges[-1][0], code)
            else:
                ranges.append((code, code))
    return "".join(f"{chr(a)}-{chr(b)}" if a != b else chr(a) for a, b in ranges)


NOT_WORD = re.compile(f"[^\\w{_mark_ranges()}]+|_+")


def normalise_name(text: str) -> str:
    """Fold a name or a message for matching.

    >>> normalise_name("Je suis dans la province de l'Île-de-France")
    'je suis dans la province de l ile de france'
    >>> normalise_name("¡KIGALI!")
    'kigali'
    >>> normalise_name("Ｑｕｅｂｅｃ")
    'quebec'
    """
    if text.isascii():
        # Most messages: nothing to compose, decompose or fold but case (the
        # same answer as ``fold_unicode``, in a fraction of the time).
        return " ".join(NOT_WORD.sub(" ", text.lower()).split())
    return fold_unicode(text)


def fold_unicode(text: str) -> str:
    """``normalise_name`` for any text, every step taken."""
    text = unicodedata.normalize("NFKC", text).casefold()
    decomposed = unicodedata.normalize("NFD", text)
    text = "".join(char for char in decomposed if unicodedata.category(char) != "Mn")
    text = text.translate(LETTER_FOLDS).translate(ARABIC_FOLDS)
    if not text.isascii():
        text = "".join(_ascii_digit(char) for char in text)
    return " ".join(NOT_WORD.sub(" ", text).split())


def _ascii_digit(char: str) -> str:
    if char.isdigit() and not char.isascii():
        value = unicodedata.decimal(char, None)
        return str(value) if value is not None else char
    return char


def normalise_code(text: str) -> str:
    """Fold a code for matching: as a name, then without spaces ("RW-02" is "rw02").

    >>> normalise_code("RW-02"), normalise_code(" rw02 "), normalise_code("Q1-1")
    ('rw02', 'rw02', 'q11')
    """
    return normalise_name(text).replace(" ", "")


def normalise_path(text: str) -> str:
    r"""Fold a ``Country > State > District`` path segment by segment.

    >>> normalise_path("RWANDA >KIGALI \t CITY.")
    'rwanda > kigali city'
    """
    return " > ".join(normalise_name(part) for part in text.strip().rstrip(".").split(">"))


# Level words of the extracts' languages, and the small words that tie them to a name
# ("Province de", "Région du", "District of"); folded like names ("район" → "раион").
_LEVEL_WORDS = """
    district districts province provinces region regions county state ward sector cell parish
    municipality municipal department prefecture governorate territory division zone
    commune canton oblast raion rayon borough subcounty
    département préfecture arrondissement région
    provincia departamento distrito estado municipio região comuna
    distretto regione comune
    landkreis kreis bezirk verwaltungskreis
    maakond vald novads apskritis savivaldybė okres kraj kommune fylke
    opština općina občina járás kistérség megye voivodeship województwo powiat gmina
    tumani viloyati viloyat rayonu
    район область округ општина ноҳияи вилояти
    νομός περιφέρεια محافظة ولاية
    জেলা বিভাগ जिला जिल्ला अञ्चल
"""
LEVEL_WORDS = frozenset(normalise_name(word) for word in _LEVEL_WORDS.split())
_CONNECTORS = "de du des del della da do dos das di of la le les l d"
LEVEL_CONNECTORS = frozenset(_CONNECTORS.split())


def strip_level_words(key: str) -> str:
    """Take the level words, and the small words tying them, off both ends of a folded name.

    Returns "" when nothing else is left (a name that is only a level word).

    >>> strip_level_words("province de l ile de france")
    'ile de france'
    >>> strip_level_words("baldones novads")
    'baldones'
    >>> strip_level_words("district")
    ''
    """
    words = key.split()
    start, end = 0, len(words)
    while start < end and (words[start] in LEVEL_WORDS or words[start] in LEVEL_CONNECTORS):
        start += 1
    while end > start and (words[end - 1] in LEVEL_WORDS or words[end - 1] in LEVEL_CONNECTORS):
        end -= 1
    return " ".join(words[start:end])
