"""The only writer of workspace aliases."""

from __future__ import annotations

import re
from collections.abc import Sequence

from django.db import transaction
from django.db.models import F

from geo import audit
from geo.api.params import check_text
from geo.audit import Actor
from geo.exceptions import AliasConflict, BoundaryNotFound, InvalidQuery
from geo.lookup.names import normalise_name
from geo.models import AuditAction, Boundary, BoundaryAlias, Workspace
from geo.workspaces import invalidate_tokens

MAX_ALIAS_LENGTH = 255
MAX_ALIASES = 100
# Matching looks for a place's names and aliases inside the whole message,
# word by word: an alias that is one letter, or only everyday words, would
# be found in nearly every message ("I live in…", "Je suis à…", "Ninaishi
# na…"). Folded as ``normalise_name`` folds (no accents, lower case).
MIN_ALIAS_CHARACTERS = 2
# What counts as a letter or digit for that minimum: ASCII and the letter blocks of the
# scripts of our users' places, written as ranges so that the OpenAPI document can state
# the very same rule (JSON Schema regex engines disagree on what \w is beyond ASCII).
ALIAS_LETTERS = (
    "0-9A-Za-z\u00aa\u00b5\u00ba\u00c0-\u00d6\u00d8-\u00f6\u00f8-\u02af\u0370-\u03ff"
    "\u0400-\u052f\u0531-\u0587\u05d0-\u05ea\u0620-\u064a\u0660-\u0669\u066e-\u06d3"
    "\u06f0-\u06ff\u0904-\u0939\u0966-\u096f\u0e01-\u0e30\u10a0-\u10ff\u1200-\u137c"
    "\u1e00-\u1fff\u3041-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uac00-\ud7a3"
)
_ALIAS_LETTER = re.compile(f"[{ALIAS_LETTERS}]")
STOP_WORDS: dict[str, frozenset[str]] = {
    "English": frozenset(
        [
            "a",
            "an",
            "the",
            "i",
            "im",
            "me",
            "my",
            "mine",
            "we",
            "us",
            "our",
            "you",
            "your",
            "he",
            "him",
            "his",
            "she",
            "her",
            "it",
            "its",
            "they",
            "them",
            "their",
            "in",
            "on",
            "at",
            "of",
            "to",
            "into",
            "onto",
            "from",
            "by",
            "with",
            "without",
            "for",
            "near",
            "and",
            "or",
            "but",
            "not",
            "no",
            "yes",
            "so",
            "if",
            "is",
            "am",
            "are",
            "was",
            "were",
            "be",
            "been",
            "do",
            "does",
            "did",
            "have",
            "has",
            "had",
            "this",
            "that",
            "these",
            "those",
            "here",
            "there",
            "live",
            "living",
            "lives",
            "stay",
            "staying",
            "hi",
            "hello",
            "ok",
            "okay",
            "please",
            "thanks",
            "thank",
        ]
    ),
    "French": frozenset(
        [
            "le",
            "la",
            "les",
            "l",
            "un",
            "une",
            "des",
            "de",
            "du",
            "d",
            "et",
            "ou",
            "a",
            "au",
            "aux",
            "en",
            "dans",
            "sur",
            "sous",
            "chez",
            "pres",
            "vers",
            "par",
            "pour",
            "avec",
            "sans",
            "je",
            "j",
            "tu",
            "il",
            "elle",
            "on",
            "nous",
            "vous",
            "ils",
            "elles",
            "me",
            "moi",
            "mon",
            "ma",
            "mes",
            "ton",
            "ta",
            "tes",
            "son",
            "sa",
            "ses",
            "suis",
            "es",
            "est",
            "sommes",
            "etes",
            "sont",
            "ai",
            "as",
            "habite",
            "habitez",
            "ce",
            "cet",
            "cette",
            "ces",
            "qui",
            "que",
            "qu",
            "y",
            "oui",
            "non",
            "bonjour",
            "salut",
            "merci",
        ]
    ),
    "Portuguese": frozenset(
        [
            "o",
            "a",
            "os",
            "as",
            "um",
            "uma",
            "uns",
            "umas",
            "de",
            "do",
            "da",
            "dos",
            "das",
            "em",
            "no",
            "na",
            "nos",
            "nas",
            "e",
            "ou",
            "eu",
            "tu",
            "ele",
            "ela",
            "voce",
            "voces",
            "nos",
            "eles",
            "elas",
            "me",
            "meu",
            "minha",
            "sou",
            "estou",
            "esta",
            "moro",
            "mora",
            "com",
            "sem",
            "por",
            "para",
            "pra",
            "perto",
            "que",
            "sim",
            "nao",
            "ola",
            "oi",
            "obrigado",
            "obrigada",
        ]
    ),
    "Spanish": frozenset(
        [
            "el",
            "la",
            "los",
            "las",
            "lo",
            "un",
            "una",
            "unos",
            "unas",
            "de",
            "del",
            "en",
            "y",
            "e",
            "o",
            "u",
            "a",
            "al",
            "yo",
            "tu",
            "usted",
            "el",
            "ella",
            "nosotros",
            "ellos",
            "ellas",
            "me",
            "mi",
            "mis",
            "soy",
            "estoy",
            "esta",
            "vivo",
            "vive",
            "con",
            "sin",
            "por",
            "para",
            "cerca",
            "que",
            "si",
            "no",
            "hola",
            "gracias",
        ]
    ),
    "Swahili": frozenset(
        [
            "na",
            "ya",
            "wa",
            "za",
            "la",
            "cha",
            "vya",
            "kwa",
            "ni",
            "si",
            "katika",
            "mimi",
            "wewe",
            "yeye",
            "sisi",
            "nyinyi",
            "wao",
            "naishi",
            "ninaishi",
            "anaishi",
            "nipo",
            "yuko",
            "hapa",
            "huko",
            "kule",
            "kutoka",
            "karibu",
            "au",
            "pia",
            "sana",
            "ndiyo",
            "ndio",
            "hapana",
            "habari",
            "jambo",
            "asante",
        ]
    ),
    "Kinyarwanda": frozenset(
        [
            "i",
            "mu",
            "muri",
            "ku",
            "kuri",
            "na",
            "ni",
            "nta",
            "ya",
            "wa",
            "ba",
            "y",
            "z",
            "ry",
            "rya",
            "cya",
            "bya",
            "kwa",
            "ndi",
            "ntuye",
            "ntuyeho",
            "mba",
            "ndaba",
            "njye",
            "jye",
            "wowe",
            "we",
            "twe",
            "mwe",
            "bo",
            "iyi",
            "uyu",
            "aha",
            "hano",
            "kandi",
            "cyangwa",
            "yego",
            "oya",
            "muraho",
            "mwaramutse",
            "murakoze",
            "amakuru",
        ]
    ),
}
_STOP_WORD_LANGUAGES: dict[str, list[str]] = {}
for _language, _words in STOP_WORDS.items():
    for _word in _words:
        _STOP_WORD_LANGUAGES.setdefault(_word, []).append(_language)


def refuse_common_alias(alias: str, *, field: str) -> None:
    """Refuse an alias that would match nearly every message.

    Raises
    ------
    InvalidQuery
        Fewer than two letters or digits, or only common words (the message
        names the alias, the words and their languages).
    """
    key = normalise_name(alias)
    if len(_ALIAS_LETTER.findall(alias)) < MIN_ALIAS_CHARACTERS:
        raise InvalidQuery(
            f"{field}: {alias!r} is too short: an alias needs at least"
            f" {MIN_ALIAS_CHARACTERS} letters or digits"
        )
    words = key.split()
    if all(word in _STOP_WORD_LANGUAGES for word in words):
        languages = sorted({lang for word in words for lang in _STOP_WORD_LANGUAGES[word]})
        raise InvalidQuery(
            f"{field}: {alias!r} is only common words ({', '.join(languages)}) that appear in"
            " ordinary messages, so it would match nearly every one; use a longer alias"
        )


def clean_aliases(raw: Sequence[object]) -> list[str]:
    """Trim, drop blanks and case/accent-insensitive duplicates, keep the first spelling.

    Raises
    ------
    InvalidQuery
        An alias is not text, holds a control character, is too long, folds
        to nothing, is under two letters, or is only common words.
    """
    if len(raw) > MAX_ALIASES:
        raise InvalidQuery(f"aliases: at most {MAX_ALIASES} per boundary")
    cleaned: dict[str, str] = {}
    for position, value in enumerate(raw):
        if not isinstance(value, str):
            raise InvalidQuery(f"aliases[{position}]: must be a string")
        check_text(value, field=f"aliases[{position}]")
        alias = " ".join(value.split())
        if not alias:
            continue
        if len(alias) > MAX_ALIAS_LENGTH:
            raise InvalidQuery(f"aliases[{position}]: longer than {MAX_ALIAS_LENGTH} characters")
        key = normalise_name(alias)
        if not key:
            raise InvalidQuery(f"aliases[{position}]: {alias!r} has no letters or digits to match")
        refuse_common_alias(alias, field=f"aliases[{position}]")
        cleaned.setdefault(key, alias)
    return list(cleaned.values())


@transaction.atomic
def set_aliases(
    *,
    workspace: Workspace,
    osm_id: str,
    aliases: Sequence[object],
    actor: Actor = audit.SYSTEM,
) -> list[str]:
    """Replace a workspace's aliases of one boundary; return them, sorted.

    An alias must not name a sibling (same parent) in the same workspace,
    by its name or by another alias: RapidPro moves such an alias silently;
    here the request is refused and the sibling named.

    Raises
    ------
    BoundaryNotFound
        No boundary with that osm_id in the workspace's country.
    InvalidQuery
        A malformed alias.
    AliasConflict
        An alias already names a sibling.
    """
    check_text(osm_id, field="osm_id")
    boundary = (
        Boundary.objects.filter(osm_id=osm_id)
        .only("id", "parent_id", "country_id", "level", "retired_at")
        .first()
    )
    if boundary is None or (workspace.country_id and boundary.country_id != workspace.country_id):
        raise BoundaryNotFound(f"no boundary {osm_id!r} in this workspace")
    if boundary.retired_at is not None:
        # Its aliases are kept as they were (they match again if it comes back).
        raise BoundaryNotFound(
            f"boundary {osm_id!r} was retired on {boundary.retired_at:%Y-%m-%d}; "
            "its aliases cannot be changed"
        )
    wanted = clean_aliases(aliases)
    siblings = Boundary.objects.filter(
        parent_id=boundary.parent_id, level=boundary.level, retired_at=None
    ).exclude(pk=boundary.pk)
    if boundary.parent_id is None:
        siblings = siblings.none()
    taken: dict[str, str] = {}
    for name, name_en in siblings.values_list("name", "name_en"):
        for text in (name, name_en):
            if text:
                taken[normalise_name(text)] = f"the name of {name}"
    for alias, sibling in BoundaryAlias.objects.filter(
        workspace=workspace, boundary__in=siblings
    ).values_list("name", "boundary__name"):
        taken[normalise_name(alias)] = f"an alias of {sibling}"
    conflicts = [
        f"{alias!r} is already {taken[normalise_name(alias)]}"
        for alias in wanted
        if normalise_name(alias) in taken
    ]
    if conflicts:
        raise AliasConflict(
            "aliases must be unique among siblings in a workspace: " + "; ".join(conflicts)
        )
    before = sorted(
        BoundaryAlias.objects.filter(workspace=workspace, boundary=boundary).values_list(
            "name", flat=True
        ),
        key=str.casefold,
    )
    BoundaryAlias.objects.filter(workspace=workspace, boundary=boundary).delete()
    BoundaryAlias.objects.bulk_create(
        BoundaryAlias(workspace=workspace, boundary=boundary, name=a) for a in wanted
    )
    Workspace.objects.filter(pk=workspace.pk).update(aliases_version=F("aliases_version") + 1)
    after = sorted(wanted, key=str.casefold)
    audit.record(
        AuditAction.ALIASES_SET,
        actor=actor,
        workspace_id=workspace.pk,
        target=osm_id,
        # The boundary's id too: ``as_of`` lookups undo this change by it (an osm_id can be re-keyed).
        details={"before": before, "after": after, "boundary_id": boundary.pk},
    )
    # Every worker rebuilds its alias index on its next request.
    invalidate_tokens()
    return after
