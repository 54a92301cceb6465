"""What a search query means, and how a match is weighed.

Any text is a query. It is read as words, runs of letters and digits
(`[^\\W_]+`, lowercased), everything else separating them, exactly as the
search index splits the catalogue's text; so quotes, parentheses, `& | ! :
*`, `%`, `_`, backslashes and NUL are never operators or wildcards. A query
with no word matches nothing.

Each word must match (if none matches with all, any word may): a word
matches a field when it starts a word of that field ("crisp" matches
"django-crispy-forms"), and a word found nowhere in the catalogue is
corrected to the nearest words that are (a typo). Each word counts once, by
the best field it matches:

    title, whole word      24      title, word prefix    20
    slug                   16      description            8
    category                4      participants           2
    corrected (typo)       half the field's points

The package's name (its title's letters and digits run together, without
a leading "django": "django-debug-toolbar" is "debugtoolbar") equal to the
query's words run together (typos corrected) counts as every word matching
the title whole, plus 40; a name that starts with them, as every word at
least a title prefix, plus 10 to 30 (more the closer the lengths); such a
name makes a package a match even when its words do not ("rest framework"
finds "djangorestframework"). Equal weights go to the better score, then
the newer PyPI release, then the closer text (FTS5's bm25 with the fields'
weights on SQLite, pg_trgm's similarity to the title on PostgreSQL; not
worked out past `repository.CLOSENESS_LIMIT` matches), then the lower id.
"""

import re
from dataclasses import dataclass

MAX_QUERY = 1000
MAX_WORDS = 8
MAX_WORD = 100

TITLE_WORD = 24
TITLE_PREFIX = 20
SLUG = 16
DESCRIPTION = 8
CATEGORY = 4
PARTICIPANTS = 2

NAME_EXACT = 40
NAME_PREFIX = 30
NAME_PREFIX_MIN = 10

PREFIX = "django"

_WORD = re.compile(r"[^\W_]+")
# What Django Packages strips as "django" plus a separator (title_no_prefix).
_SEPARATORS = ["_", ",", ".", "-", " ", "/", "|"]


def words(text: str) -> list[str]:
    """The words of `text`, lowercased: the unit both query and index use."""
    return _WORD.findall(text.lower())


def name_of(text: str) -> str:
    """A title's name: its words run together, without a leading "django"."""
    joined = "".join(words(text))
    if len(joined) > len(PREFIX) and joined.startswith(PREFIX):
        return joined[len(PREFIX) :]
    return joined


def weigh(word_points: int, count: int, name: str, wanted: str) -> int:
    """A title's weight: its `count` words' points raised by its name.

    The name equal to the query's (`wanted`) counts as every word matching
    the title whole, plus NAME_EXACT; a name that starts with it as at least
    a title prefix for every word, plus 10 to 30 the closer the lengths.
    """
    if not wanted:
        return word_points
    if name == wanted:
        return count * TITLE_WORD + NAME_EXACT
    if name.startswith(wanted):
        extra = len(name) - len(wanted)
        bonus = max(NAME_PREFIX - extra, NAME_PREFIX_MIN)
        return max(word_points, count * TITLE_PREFIX) + bonus
    return word_points


def title_no_prefix(title: str) -> str:
    """The title without "django" and its separator, as Django Packages shows it."""
    value = title.lower()
    for separator in _SEPARATORS:
        value = value.replace(f"{PREFIX}{separator}", "")
    return value


def clean_title(title: str) -> str:
    """The title's letters and digits only, without the "django" prefix."""
    return "".join(words(title_no_prefix(title)))


@dataclass(frozen=True, slots=True)
class SearchQuery:
    words: tuple[str, ...]
    name: str

    @classmethod
    def parse(cls, text: str) -> "SearchQuery":
        found = [word[:MAX_WORD] for word in words(text)]
        unique = tuple(dict.fromkeys(found))[:MAX_WORDS]
        return cls(words=unique, name=name_of(" ".join(unique)))

    @property
    def empty(self) -> bool:
        return not self.words


def typo_distance(word: str) -> int:
    """How many edits a correction of `word` may make; short words get none."""
    if len(word) < 4:
        return 0
    return 1 if len(word) <= 6 else 2
