"""What user Cypher may contain: an allow-list checked before the text reaches a graph store.

The stores' own read-only modes (a READ ONLY transaction in LadybugDB, READ access mode in Neo4j) refuse
writes, but not everything else a statement can do: LadybugDB runs `CALL READ_CSV_SERIAL('/etc/hostname')`
(and segfaults), `CALL timeout=1` / `CALL checkpoint_threshold=1` change settings of the connection or the
whole database, `CALL current_setting('home_directory')` leaks, `COPY … TO` writes files; Neo4j runs
`LOAD CSV FROM 'http://…'` and `CALL dbms.*` procedures in a read transaction. So the text is checked
against what a query may contain, never against a list of what it may not:

- tokens after dropping comments and reading string literals, quoted names and `$parameters` as values;
- every bare word must be an allowed clause or operator keyword (MATCH, OPTIONAL, WHERE, WITH, RETURN,
  ORDER BY, SKIP, LIMIT, UNWIND, UNION, DISTINCT, CASE, …), an allowed function right before `(`, a name
  after `.` (property) or `:` (label, type, map key), or a variable bound where Cypher binds one: after
  `(`, `[`, `,`, AS, YIELD, or before `:`/`=` (a pattern variable, a path). Any other word is refused:
  that is where a clause such as CALL, LOAD, COPY, SET or USE would stand;
- no `;` (one statement), no namespaced function, no CALL unless the dialect allow-lists the procedure
  (Neo4j's `db.labels()` and kin; LadybugDB: none, so no table function, standalone function or setting).

`--write` (the daemon's socket) adds CREATE, MERGE, SET, DELETE, DETACH, REMOVE and ON to the keywords,
nothing else: schema changes, CALL, COPY/LOAD/ATTACH/INSTALL and transaction control stay refused for
every caller, since the projector writes through the same database.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from projections.stores.base import QueryRefused, ReadOnlyViolation

__all__ = ["LADYBUG", "NEO4J", "Dialect", "QueryRefused", "ReadOnlyViolation", "check"]


# Clause and expression keywords of a read query, lower case.
READ_KEYWORDS = frozenset(
    {
        "match",
        "optional",
        "where",
        "with",
        "return",
        "order",
        "by",
        "asc",
        "ascending",
        "desc",
        "descending",
        "skip",
        "limit",
        "unwind",
        "union",
        "all",
        "distinct",
        "as",
        "and",
        "or",
        "xor",
        "not",
        "in",
        "is",
        "null",
        "true",
        "false",
        "case",
        "when",
        "then",
        "else",
        "end",
        "starts",
        "ends",
        "contains",
        "exists",
        "count",
        "collect",
        "any",
        "none",
        "single",
        "shortest",
        "wshortest",
    }
)
WRITE_KEYWORDS = frozenset({"create", "merge", "set", "delete", "detach", "remove", "on"})

# Never a name either, even where Cypher binds one: a second fence around what the allow-list keeps out.
_NEVER = frozenset(
    {
        "call",
        "load",
        "copy",
        "attach",
        "use",
        "install",
        "export",
        "import",
        "drop",
        "alter",
        "begin",
        "commit",
        "rollback",
        "checkpoint",
        "foreach",
        "show",
        "terminate",
        "profile",
        "explain",
        "macro",
        "project",
        "grant",
        "revoke",
        "deny",
    }
)


def _names(text: str) -> frozenset[str]:
    return frozenset(text.split())


_FILES = frozenset({"load", "copy", "attach", "use", "install", "export", "import"})

# Functions of LadybugDB 0.22 (`CALL show_functions()`) without side effects, outside state or files:
# scalar, aggregate and rewrite functions; not NEXTVAL/CURRVAL (sequences), SETSEED (the random state
# of the connection), ERROR, nor any table function (those need CALL).
LADYBUG_FUNCTIONS = _names(
    """
    abs acos asin atan atan2 cbrt ceil ceiling cos cot degrees even factorial floor gamma lgamma ln log
    log10 log2 negate pi pow radians random round sign sin sqrt tan bitwise_and bitwise_or bitwise_xor
    bitshift_left bitshift_right
    avg count count_if collect histogram max min sum percentilecont percentiledisc
    concat concat_ws contains ends_with starts_with prefix suffix initcap lcase lower ucase upper tolower
    toupper left right lpad rpad ltrim rtrim trim repeat replace reverse size substr substring split_part
    string_split str_split string_to_array levenshtein octet_length regexp_extract regexp_extract_all
    regexp_full_match regexp_matches regexp_replace regexp_split_to_array md5 sha256 hash encode decode
    list_any_value list_append list_cat list_concat list_contains list_creation list_distinct
    list_element list_extract list_filter list_has list_has_all list_has_any list_indexof list_max
    list_min list_position list_prepend list_product list_reduce list_reverse list_reverse_sort
    list_slice list_sort list_sum list_to_string list_transform list_unique range array_append
    array_cat array_concat array_contains array_cosine_similarity array_cross_product array_distance
    array_dot_product array_extract array_has array_indexof array_inner_product array_position
    array_prepend array_push_back array_push_front array_slice array_squared_distance array_value
    cardinality element_at map map_extract map_keys map_values struct_extract struct_pack union_extract
    union_tag union_value
    all any none single is_acyclic is_trail nodes rels relationships properties cost
    id label labels keys length nullif start_node end_node offset rowid
    cast coalesce ifnull greatest least typeof constant_or_null to_bool to_date to_double to_float
    to_int8 to_int16 to_int32 to_int64 to_int128 to_uint8 to_uint16 to_uint32 to_uint64 to_uint128
    to_serial to_string to_blob to_uuid to_timestamp to_interval to_epoch_ms to_years to_months to_days
    to_hours to_minutes to_seconds to_milliseconds to_microseconds string blob uuid gen_random_uuid
    date timestamp interval duration current_date current_timestamp date_part datepart date_trunc
    datetrunc dayname monthname last_day make_date epoch_ms century time_bucket
    """
)
# Neo4j 5 built-in functions (no apoc.*, gds.*, db.*: plugins and database functions are not for users).
NEO4J_FUNCTIONS = _names(
    """
    abs acos asin atan atan2 ceil cos cot degrees e exp floor haversin isnan log log10 pi radians rand
    round sign sin sqrt tan
    avg collect count max min percentilecont percentiledisc stdev stdevp sum
    left lower ltrim normalize replace reverse right rtrim split substring tolower toupper trim
    btrim tostring tostringornull char_length character_length size
    all any none single isempty exists coalesce head last tail keys labels nodes relationships range
    reduce properties startnode endnode type id elementid length randomuuid timestamp valuetype
    toboolean tobooleanornull tofloat tofloatornull tointeger tointegerornull tobooleanlist
    tofloatlist tointegerlist tostringlist
    date datetime localdatetime localtime time duration point distance shortestpath allshortestpaths
    date.truncate datetime.truncate localdatetime.truncate duration.between duration.indays
    duration.inmonths duration.inseconds point.distance
    """
)


@dataclass(frozen=True)
class Dialect:
    name: str
    functions: frozenset[str]
    # Procedures a read-only query may CALL (lower-case dotted names), with YIELD.
    procedures: frozenset[str] = frozenset()
    keywords: frozenset[str] = frozenset()


LADYBUG = Dialect("LadybugDB", LADYBUG_FUNCTIONS)
NEO4J = Dialect(
    "Neo4j",
    NEO4J_FUNCTIONS,
    procedures=frozenset({"db.labels", "db.relationshiptypes", "db.propertykeys"}),
    keywords=frozenset({"yield"}),
)

_TOKEN = re.compile(
    r"""
    (?P<space>\s+)
  | (?P<comment>//[^\n]*|/\*.*?\*/)
  | (?P<string>'(?:[^'\\]|\\.)*'|"(?:[^"\\]|\\.)*")
  | (?P<quoted>`(?:[^`]|``)*`)
  | (?P<param>\$(?:[^\W\d]\w*|\d+|`(?:[^`]|``)*`))
  | (?P<number>\d+(?:\.\d+)?(?:[eE][+-]?\d+)?|\.\d+)
  | (?P<word>[^\W\d]\w*)
  | (?P<punct>\.\.|->|<-|<>|<=|>=|=~|\+=|::|[()\[\]{}.,:|+\-*/%^=<>!&?])
    """,
    re.S | re.X,
)
_BINDERS = frozenset({"(", "[", ",", "as", "yield"})


@dataclass(frozen=True)
class _Tok:
    kind: str  # word | quoted | value | punct
    text: str  # lower case for words


def _tokens(cypher: str) -> list[_Tok]:
    out: list[_Tok] = []
    pos = 0
    while pos < len(cypher):
        m = _TOKEN.match(cypher, pos)
        if m is None:
            bad = cypher[pos : pos + 20]
            raise QueryRefused(f"cannot read the query at {bad!r} (an unclosed quote or comment?)")
        pos = m.end()
        kind = m.lastgroup or ""
        if kind in ("space", "comment"):
            continue
        if kind in ("string", "param", "number"):
            out.append(_Tok("value", ""))
        elif kind == "quoted":
            out.append(_Tok("quoted", m.group().strip("`").replace("``", "`").lower()))
        elif kind == "word":
            out.append(_Tok("word", m.group().lower()))
        else:
            out.append(_Tok("punct", m.group()))
    return out


def _chain_end(toks: list[_Tok], i: int) -> int:
    """The index of the last name in a dotted chain starting at i (`db.labels`: the `labels` token)."""
    while (
        i + 2 < len(toks)
        and toks[i + 1].kind == "punct"
        and toks[i + 1].text == "."
        and toks[i + 2].kind in ("word", "quoted")
    ):
        i += 2
    return i


def _dotted(toks: list[_Tok], start: int, end: int) -> str:
    return ".".join(toks[j].text for j in range(start, end + 1, 2))


def _opens(toks: list[_Tok], i: int) -> bool:
    return i < len(toks) and toks[i].kind == "punct" and toks[i].text == "("


def _why(word: str, dialect: Dialect) -> str:
    shown = word.upper()
    if word == "call":
        allowed = ", ".join(sorted(dialect.procedures)) or "none"
        return (
            f"CALL is not allowed: table functions, settings and procedures are off limits to queries "
            f"(procedures allowed in {dialect.name} read-only queries: {allowed})"
        )
    if word in _FILES:
        return f"{shown} is not allowed: queries may not read or write files or other databases"
    if word in ("begin", "commit", "rollback", "checkpoint"):
        return f"{shown} is not allowed: a query may not end or control its transaction"
    return (
        f"{shown!r} is not allowed here: a query may use MATCH, OPTIONAL MATCH, WHERE, WITH, RETURN, "
        "ORDER BY, SKIP, LIMIT, UNWIND, UNION, DISTINCT, CASE and the allowed functions (with --write also "
        "CREATE, MERGE, SET, DELETE, REMOVE); no schema changes, CALL, COPY, LOAD or settings"
    )


_WRITES = "tried to write"


def _problem(cypher: str, dialect: Dialect, *, write: bool) -> str | None:
    """Why the text may not run, or None when every token is allowed."""
    toks = _tokens(cypher)
    if not toks:
        return "the query is empty"
    keywords = READ_KEYWORDS | dialect.keywords | (WRITE_KEYWORDS if write else frozenset())
    bound: set[str] = set()
    label_ctx = False
    i = -1
    while i + 1 < len(toks):
        i += 1
        tok = toks[i]
        prev = toks[i - 1] if i else None
        nxt = toks[i + 1] if i + 1 < len(toks) else None
        prev_punct = prev.text if prev is not None and prev.kind == "punct" else ""
        prev_word = prev.text if prev is not None and prev.kind == "word" else ""
        if tok.kind == "punct":
            label_ctx = label_ctx and tok.text in ("|", ":")
            continue
        if tok.kind == "value":
            label_ctx = False
            continue
        name = tok.text
        if prev_punct == ".":
            continue  # a property (function names after a dot are checked with their namespace)
        is_label = prev_punct == ":" or (label_ctx and prev_punct == "|")
        if tok.kind == "word" and name in _NEVER and not is_label:
            if name != "call" or not dialect.procedures or write:
                return _why(name, dialect)
            # CALL ns.procedure(...) of the dialect's allow-list; nothing else (no CALL { }, no settings).
            start = i + 1
            if start >= len(toks) or toks[start].kind != "word":
                return _why("call", dialect)
            end = _chain_end(toks, start)
            if not _opens(toks, end + 1) or _dotted(toks, start, end) not in dialect.procedures:
                return _why("call", dialect)
            i = end
            continue
        end = _chain_end(toks, i)
        if _opens(toks, end + 1):
            # A function call; quoted names too (`nextval`('s') is still nextval).
            if end == i and tok.kind == "word" and name in keywords:
                continue  # MATCH (, WHERE (, count(, exists(
            dotted = _dotted(toks, i, end)
            if dotted not in dialect.functions:
                return f"function {dotted}() is not allowed in {dialect.name} queries"
            i = end
            continue
        if tok.kind == "quoted":
            bound.add(name)  # a quoted name is never a keyword
            label_ctx = label_ctx or prev_punct == ":"
            continue
        if is_label:
            label_ctx = True  # a label or relationship type (A|B alternatives too)
            continue
        label_ctx = False
        if name in keywords:
            continue
        if name in WRITE_KEYWORDS:
            return _WRITES
        nxt_punct = nxt.text if nxt is not None and nxt.kind == "punct" else ""
        if (
            prev_punct in _BINDERS
            or prev_word in _BINDERS
            or nxt_punct == ":"
            or (nxt_punct == "=" and (prev_word == "match" or prev_punct == ","))
        ):
            bound.add(name)
            continue
        if name in bound:
            continue
        return _why(name, dialect)
    return None


def check(cypher: str, dialect: Dialect, *, read_only: bool) -> None:
    """Raise ReadOnlyViolation (read-only text that would pass with --write) or QueryRefused (anything
    outside the allow-list, for every caller); return when the text may run."""
    if ";" in _strip_values(cypher):
        raise QueryRefused("one statement only: no ';'")
    problem = _problem(cypher, dialect, write=not read_only)
    if problem is None:
        return
    if read_only:
        as_write = _problem(cypher, dialect, write=True)
        if as_write is None:
            raise ReadOnlyViolation(
                "read-only query tried to write (CREATE, MERGE, SET, DELETE and REMOVE need --write)"
            )
        if problem == _WRITES:
            problem = as_write
    raise QueryRefused(problem)


def _strip_values(cypher: str) -> str:
    """The text without comments, strings and quoted names (where ';' is just a character)."""
    out = []
    pos = 0
    while pos < len(cypher):
        m = _TOKEN.match(cypher, pos)
        if m is None:
            out.append(cypher[pos])
            pos += 1
            continue
        if m.lastgroup not in ("comment", "string", "quoted", "param"):
            out.append(m.group())
        pos = m.end()
    return "".join(out)
