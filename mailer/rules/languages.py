"""A form's "Preferred language" answer -> one of the site's languages, or None.

Answers come as people write them: "Español", "spanish", "es-MX",
"español (Spanish)", "Spanish / Español". Each part is compared without case
or accents against the site's spellings; a regional code finds its language.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Mapping

SEPARATORS = re.compile(r"[()/,;|\[\]]+")


def normalized(text: str) -> str:
    """Lower case, no accents, single spaces: "  Español " -> "espanol"."""
    decomposed = unicodedata.normalize("NFKD", text.casefold())
    bare = "".join(c for c in decomposed if not unicodedata.combining(c))
    return " ".join(bare.replace("_", "-").split())


def language_of(answer: str, spellings: Mapping[str, str]) -> str | None:
    """The language an answer names; None when it names none the site has (blank included)."""
    whole = normalized(answer)
    if not whole:
        return None
    for part in [whole, *(p.strip() for p in SEPARATORS.split(whole))]:
        if not part:
            continue
        if part in spellings:
            return spellings[part]
        base = part.split("-")[0]  # es-mx -> es
        if base in spellings and re.fullmatch(r"[a-z]{2,3}(-[a-z0-9]{2,8})*", part):
            return spellings[base]
    return None
