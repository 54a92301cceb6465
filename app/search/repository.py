"""Search queries: the same weights on both databases, each with its own index.

A field "matches a word" when the word starts one of the field's words. On
SQLite that is an FTS5 query on the `package_search` table (`title :
"word"*`); on PostgreSQL a full-text query (`word:*`) on the field's stored
`search_*` column, answered from the GIN indexes migration 0004 made, so
the expressions below must stay as the migration wrote them. A word the
catalogue holds nowhere is a typo: the titles sharing most of its trigrams
are found (an FTS5 trigram table on SQLite, pg_trgm word similarity on
PostgreSQL), and their words within the typo distance (Damerau-Levenshtein,
through rapidfuzz) replace it.

Grids are few; they are read whole and weighed in Python by the same rules.
"""

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from rapidfuzz import process
from rapidfuzz.distance import DamerauLevenshtein
from sqlalchemy import (
    ColumnElement,
    Select,
    and_,
    case,
    column,
    false,
    func,
    literal,
    literal_column,
    or_,
    select,
    table,
    text,
)
from sqlalchemy.ext.asyncio import AsyncSession

from app.models import Category, Grid, Package
from app.search import query as weights
from app.search.query import SearchQuery, name_of, typo_distance, weigh, words

# How similar (pg_trgm word similarity, 0 to 1) a word must be to count as a typo of it.
PG_TYPO_SIMILARITY = 0.5
# Corrections tried for one misspelt word.
MAX_CORRECTIONS = 3
# Most matches whose text closeness is worked out (it costs per match).
CLOSENESS_LIMIT = 2000
# FTS5 bm25 weights of title, slug, description, category, participants, name.
_BM25_WEIGHTS = (24, 16, 8, 4, 2, 0)
# Titles whose words are looked through for a typo's correction.
TYPO_CANDIDATES = 50

# A title's letters run together, as migration 0004 indexes it.
NAME_SQL = "replace(replace(replace(replace(lower({title}), '-', ''), '_', ''), ' ', ''), '.', '')"
_JOINED: Any = literal_column(NAME_SQL.format(title="packages.title"))

_fts = table("package_search", column("rowid"))
_FTS_COLUMNS = {
    "title": "title",
    "slug": "slug",
    "description": "description",
    "category": "category",
    "participants": "participants",
}


@dataclass(frozen=True, slots=True)
class Hit:
    item_type: str  # "package" | "grid"
    id: int
    weight: int
    score: int
    released: datetime | None = None
    closeness: float = 0.0

    @property
    def order(self) -> tuple[int, int, float, float, int, int]:
        released = -self.released.timestamp() if self.released else math.inf
        kind = 0 if self.item_type == "package" else 1
        return (-self.weight, -self.score, released, -self.closeness, kind, self.id)


@dataclass(frozen=True, slots=True)
class Word:
    """One query word, or the corrections of a misspelt one."""

    text: str
    corrections: tuple[str, ...] = ()  # set when the word itself is nowhere

    @property
    def corrected(self) -> bool:
        return bool(self.corrections)


class _Dialect:
    """How one database tells whether a field matches a word."""

    def field(
        self, name: str, word: Word, *, whole: bool = False
    ) -> ColumnElement[bool]:
        raise NotImplementedError

    def anywhere(self, word: Word) -> ColumnElement[bool]:
        raise NotImplementedError

    def name_starts(self, wanted: str) -> ColumnElement[bool]:
        """The title's letters run together start with `wanted` (or "django" + it)."""
        raise NotImplementedError

    async def prepare(self, session: AsyncSession) -> None:
        return None

    async def learn(self, session: AsyncSession, word: Word) -> None:
        """Look up what matching `word` needs before its queries are built."""
        return None

    async def corrections(self, session: AsyncSession, word: str) -> tuple[str, ...]:
        raise NotImplementedError

    def closeness(self, query: Select[Any], resolved: Sequence[Word]) -> Select[Any]:
        """`query` with a `closeness` column: how closely the text matches, the
        database's own measure, used only between otherwise equal matches."""
        raise NotImplementedError


def _nearest(word: str, frequency: dict[str, int]) -> tuple[str, ...]:
    """The terms within `word`'s typo distance: nearest first, then most used."""
    distance = typo_distance(word)
    near = process.extract(
        word,
        [term for term in frequency if term != word],
        scorer=DamerauLevenshtein.distance,
        score_cutoff=distance,
        limit=None,
    )
    ranked = sorted(near, key=lambda hit: (hit[1], -frequency[hit[0]], hit[0]))
    return tuple(term for term, _distance, _index in ranked[:MAX_CORRECTIONS])


def _phrase(term: str) -> str:
    # Terms are letters and digits only; the quotes make FTS5 read them as
    # strings even when they are keywords (AND, OR, NOT, NEAR).
    return '"' + term.replace('"', '""') + '"'


class _SQLite(_Dialect):
    def _match(self, expression: str) -> ColumnElement[bool]:
        rows = select(_fts.c.rowid).where(
            literal_column("package_search").op("MATCH")(literal(expression))
        )
        return Package.id.in_(rows)

    def _terms(self, word: Word, whole: bool) -> str:
        if word.corrected:
            return "(" + " OR ".join(_phrase(t) for t in word.corrections) + ")"
        return _phrase(word.text) + ("" if whole else "*")

    def field(
        self, name: str, word: Word, *, whole: bool = False
    ) -> ColumnElement[bool]:
        return self._match(f"{_FTS_COLUMNS[name]} : {self._terms(word, whole)}")

    def anywhere(self, word: Word) -> ColumnElement[bool]:
        searched = " ".join(_FTS_COLUMNS.values())
        return self._match(f"{{{searched}}} : {self._terms(word, whole=False)}")

    def name_starts(self, wanted: str) -> ColumnElement[bool]:
        both = f"{_phrase(wanted)}* OR {_phrase(weights.PREFIX + wanted)}*"
        return self._match(f"name : ({both})")

    def closeness(self, query: Select[Any], resolved: Sequence[Word]) -> Select[Any]:
        # FTS5's bm25 with the fields' weights (name 0): lower is closer.
        searched = " ".join(_FTS_COLUMNS.values())
        terms = " OR ".join(self._terms(word, whole=False) for word in resolved)
        ranked = (
            select(
                _fts.c.rowid,
                func.bm25(
                    literal_column("package_search"),
                    *(literal_column(str(w)) for w in _BM25_WEIGHTS),
                ).label("rank"),
            )
            .where(
                literal_column("package_search").op("MATCH")(
                    literal(f"{{{searched}}} : ({terms})")
                )
            )
            .subquery("ranked")
        )
        return query.outerjoin(ranked, ranked.c.rowid == Package.id).add_columns(
            func.coalesce(-ranked.c.rank, 0.0).label("closeness")
        )

    async def corrections(self, session: AsyncSession, word: str) -> tuple[str, ...]:
        distance = typo_distance(word)
        if not distance:
            return ()
        # The titles sharing the most (and rarest) of the word's trigrams.
        trigrams = " OR ".join(
            dict.fromkeys(_phrase(word[i : i + 3]) for i in range(len(word) - 2))
        )
        titles = await session.scalars(
            text(
                "SELECT title FROM package_title_trigrams "
                "WHERE package_title_trigrams MATCH :trigrams ORDER BY rank LIMIT :limit"
            ),
            {"trigrams": trigrams, "limit": TYPO_CANDIDATES},
        )
        frequency: dict[str, int] = {}
        for title in titles:
            for term in set(words(title)):
                frequency[term] = frequency.get(term, 0) + 1
        return _nearest(word, frequency)


# PostgreSQL expressions, written as in migration 0004's indexes, constants
# inline, so the planner uses them.
def _pg_words(column: str) -> ColumnElement[Any]:
    """A field's words: the stored full-text column migration 0004 made."""
    return literal_column(f"packages.search_{column}")


def _pg_trigrams(expression: Any) -> ColumnElement[str]:
    return func.translate(
        func.lower(expression), literal_column("'_'"), literal_column("' '")
    )


_PG_FIELDS = ("title", "slug", "description", "participants")
_PG_NAME: Any = _JOINED.collate("C")


class _PostgreSQL(_Dialect):
    def _query(self, word: Word, whole: bool) -> ColumnElement[Any]:
        # Words are letters and digits only, so they are never tsquery syntax.
        if word.corrected:
            terms = "(" + " | ".join(word.corrections) + ")"
        else:
            terms = word.text + ("" if whole else ":*")
        return func.to_tsquery(literal_column("'simple'"), literal(terms))

    def __init__(self) -> None:
        self._category_words: dict[int, list[str]] = {}
        # (word, whole) -> the ids of the categories whose title it matches
        self._categories: dict[tuple[Word, bool], list[int]] = {}

    async def learn(self, session: AsyncSession, word: Word) -> None:
        # Categories are few: which ones a word matches is worked out here
        # (by the same word rules), so the packages' condition stays one the
        # indexes answer (a subquery would not be).
        for whole in (False, True):
            self._categories[(word, whole)] = [
                category_id
                for category_id, terms in self._category_words.items()
                if any(_word_matches(word, term, whole) for term in terms)
            ]

    def field(
        self, name: str, word: Word, *, whole: bool = False
    ) -> ColumnElement[bool]:
        if name == "category":
            ids = self._categories.get((word, whole), [])
            return Package.category_id.in_(ids) if ids else false()
        return _pg_words(name).op("@@")(self._query(word, whole))

    def anywhere(self, word: Word) -> ColumnElement[bool]:
        return or_(*(self.field(name, word) for name in (*_PG_FIELDS, "category")))

    def name_starts(self, wanted: str) -> ColumnElement[bool]:
        return or_(
            *(_starts(_PG_NAME, start) for start in (wanted, weights.PREFIX + wanted))
        )

    def closeness(self, query: Select[Any], resolved: Sequence[Word]) -> Select[Any]:
        # pg_trgm's similarity of the query's words to the lowercased title.
        text_ = " ".join(
            word.corrections[0] if word.corrected else word.text for word in resolved
        )
        return query.add_columns(
            func.similarity(literal(text_), func.lower(Package.title)).label(
                "closeness"
            )
        )

    async def prepare(self, session: AsyncSession) -> None:
        rows = await session.execute(select(Category.id, Category.title))
        self._category_words = {
            category_id: words(title) for category_id, title in rows
        }
        await _set_local(
            session, "pg_trgm.word_similarity_threshold", str(PG_TYPO_SIMILARITY)
        )
        # The planner prices GIN lookups high and per-row text work low, and
        # would rather read every package than combine the indexes; every
        # search query here is written for the indexes, so for the rest of
        # this transaction it may not.
        await _set_local(session, "enable_seqscan", "off")

    async def corrections(self, session: AsyncSession, word: str) -> tuple[str, ...]:
        """The nearest words of the packages most trigram-similar to `word`."""
        if not typo_distance(word):
            return ()
        title = _pg_trigrams(Package.title)
        rows = await session.scalars(
            select(Package.title)
            .where(literal(word).op("<%")(title))
            .order_by(func.word_similarity(literal(word), title).desc(), Package.id)
            .limit(TYPO_CANDIDATES)
        )
        frequency: dict[str, int] = {}
        for found in rows:
            for term in set(words(found)):
                frequency[term] = frequency.get(term, 0) + 1
        return _nearest(word, frequency)


def _word_matches(word: Word, term: str, whole: bool) -> bool:
    if word.corrected:
        return term in word.corrections
    return term == word.text if whole else term.startswith(word.text)


async def _set_local(session: AsyncSession, setting: str, value: str) -> None:
    """Set a PostgreSQL setting until the end of this transaction."""
    await session.execute(
        text("SELECT set_config(:setting, :value, true)"),
        {"setting": setting, "value": value},
    )


def _starts(expression: Any, start: str) -> ColumnElement[bool]:
    """`expression` starts with `start`, as a range a btree answers."""
    after = start[:-1] + chr(ord(start[-1]) + 1)
    return and_(expression >= literal(start), expression < literal(after))


def _dialect(session: AsyncSession) -> _Dialect:
    if session.get_bind().dialect.name == "postgresql":
        return _PostgreSQL()
    return _SQLite()


async def _resolve_words(
    session: AsyncSession, dialect: _Dialect, query: SearchQuery
) -> tuple[list[Word], list[int]]:
    """The query's words (one found nowhere becomes its corrections), and how
    many packages each word as typed matches."""
    resolved = []
    counts = []
    for text_ in query.words:
        word = Word(text_)
        await dialect.learn(session, word)
        # A count, not EXISTS: a LIMIT 1 would tempt PostgreSQL's planner
        # into a sequential scan that hopes to stop early.
        found = await session.scalar(
            select(func.count()).where(dialect.anywhere(word)).select_from(Package)
        )
        counts.append(found or 0)
        if not found:
            corrections = await dialect.corrections(session, text_)
            if corrections:
                word = Word(text_, corrections)
                await dialect.learn(session, word)
        # A word with no correction matches nothing: all-words mode finds nothing.
        resolved.append(word)
    return resolved, counts


def _word_points(dialect: _Dialect, word: Word) -> ColumnElement[int]:
    half = 2 if word.corrected else 1
    ladder = [
        (dialect.field("title", word, whole=True), weights.TITLE_WORD),
        (dialect.field("title", word), weights.TITLE_PREFIX),
        (dialect.field("slug", word), weights.SLUG),
        (dialect.field("description", word), weights.DESCRIPTION),
        (dialect.field("category", word), weights.CATEGORY),
        (dialect.field("participants", word), weights.PARTICIPANTS),
    ]
    if word.corrected:
        ladder = ladder[1:]  # a correction is never the whole word typed
    return case(*((match, points // half) for match, points in ladder), else_=0)


def _weight(
    word_points: Any, count: int, wanted: str, joined: Any
) -> ColumnElement[int]:
    """The words' points raised by the title's name (see `app.search.query`);
    `joined` is the title's letters run together."""
    if not wanted:
        return word_points  # type: ignore[no-any-return]
    prefix = weights.PREFIX
    name = case(
        (
            and_(
                func.length(joined) > len(prefix),
                func.substr(joined, 1, len(prefix)) == prefix,
            ),
            func.substr(joined, len(prefix) + 1),
        ),
        else_=joined,
    )
    extra = func.length(name) - len(wanted)
    floor = count * weights.TITLE_PREFIX
    return case(
        (name == wanted, count * weights.TITLE_WORD + weights.NAME_EXACT),
        (
            func.substr(name, 1, len(wanted)) == wanted,
            case((word_points > floor, word_points), else_=floor)
            + case(
                (
                    extra >= weights.NAME_PREFIX - weights.NAME_PREFIX_MIN,
                    weights.NAME_PREFIX_MIN,
                ),
                else_=weights.NAME_PREFIX - extra,
            ),
        ),
        else_=word_points,
    )


def _wanted_name(resolved: Sequence[Word]) -> str:
    """The query's name, typos replaced by their best correction."""
    chosen = (word.corrections[0] if word.corrected else word.text for word in resolved)
    return name_of(" ".join(chosen))


async def search_packages(
    session: AsyncSession, query: SearchQuery, depth: int
) -> tuple[list[Hit], list[Word]]:
    """The best `depth` packages for `query`, best first, and the words as read."""
    dialect = _dialect(session)
    await dialect.prepare(session)
    resolved, counts = await _resolve_words(session, dialect, query)
    wanted = _wanted_name(resolved)
    word_points = sum((_word_points(dialect, word) for word in resolved), literal(0))
    hits: list[Hit] = []
    by_name = dialect.name_starts(wanted) if wanted else None
    for combine in (and_, or_):
        matching = combine(*(dialect.anywhere(word) for word in resolved))
        if by_name is not None:
            matching = or_(matching, by_name)
        # Every match pays for its closeness: past CLOSENESS_LIMIT matches
        # (as the words as typed bound them) equal weights go to id instead.
        typed = [count for word, count in zip(resolved, counts, strict=True) if count]
        bound = (min(typed) if combine is and_ else sum(typed)) if typed else 0
        with_closeness = bound <= CLOSENESS_LIMIT
        # The matches with their words' points and name, worked out once each
        # (MATERIALIZED), then weighed and ordered.
        columns = select(
            Package.id,
            Package.score,
            Package.pypi_released_at,
            word_points.label("points"),
            _JOINED.label("joined"),
        )
        found = (
            (
                dialect.closeness(columns, resolved)
                if with_closeness
                else columns.add_columns(literal(0.0).label("closeness"))
            )
            .where(matching)
            .cte("found")
            .prefix_with("MATERIALIZED")
        )
        weight = _weight(found.c.points, len(resolved), wanted, found.c.joined)
        rows = await session.execute(
            select(
                found.c.id,
                found.c.score,
                found.c.pypi_released_at,
                found.c.closeness,
                weight.label("weight"),
            )
            .order_by(
                literal_column("weight").desc(),
                found.c.score.desc(),
                found.c.pypi_released_at.desc().nulls_last(),
                found.c.closeness.desc(),
                found.c.id,
            )
            .limit(depth)
        )
        hits = [
            Hit(
                "package",
                row.id,
                int(row.weight),
                row.score,
                row.pypi_released_at,
                float(row.closeness),
            )
            for row in rows
        ]
        if hits or len(resolved) == 1:
            break
    return hits, resolved


def _grid_points(grid: Grid, resolved: Sequence[Word], wanted: str) -> tuple[int, int]:
    """The grid's weight and how many words matched, by the packages' rules."""
    fields = [
        (words(grid.title), weights.TITLE_PREFIX),
        (words(grid.slug), weights.SLUG),
        (words(grid.description), weights.DESCRIPTION),
    ]
    total = matched = 0
    for word in resolved:
        if not word.corrected and word.text in fields[0][0]:
            total += weights.TITLE_WORD
            matched += 1
            continue
        for terms, points in fields:
            if word.corrected:
                hit = any(term in word.corrections for term in terms)
                points //= 2
            else:
                hit = any(term.startswith(word.text) for term in terms)
            if hit:
                total += points
                matched += 1
                break
    name = name_of(grid.title)
    if wanted and name.startswith(wanted):
        matched = len(resolved)
    return weigh(total, len(resolved), name, wanted), matched


async def search_grids(session: AsyncSession, resolved: Sequence[Word]) -> list[Hit]:
    """Every grid matching all words (else any word), weighed."""
    grids = (await session.scalars(select(Grid).order_by(Grid.id))).all()
    wanted = _wanted_name(resolved)
    scored = [(grid, *_grid_points(grid, resolved, wanted)) for grid in grids]
    every = [(g, w) for g, w, matched in scored if matched == len(resolved)]
    chosen = every or [(g, w) for g, w, matched in scored if matched]
    return [Hit("grid", grid.id, weight, 0) for grid, weight in chosen]


async def packages_by_id(
    session: AsyncSession, ids: Sequence[int]
) -> dict[int, tuple[Package, str]]:
    """The packages with the given ids, each with its category's title."""
    if not ids:
        return {}
    rows = await session.execute(
        select(Package, Category.title)
        .join(Category, Category.id == Package.category_id)
        .where(Package.id.in_(ids))
    )
    return {package.id: (package, title) for package, title in rows}


async def grids_by_id(session: AsyncSession, ids: Sequence[int]) -> dict[int, Grid]:
    if not ids:
        return {}
    rows = await session.scalars(select(Grid).where(Grid.id.in_(ids)))
    return {grid.id: grid for grid in rows}
