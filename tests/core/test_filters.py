"""The Filter language: the README example works, hostile input is refused and never touches the index."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

import paraschut as psu
from paraschut.filters import COLUMNS, FUNCTIONS, KEYWORDS, MAX_FILTER_LENGTH, compile_filter

from ._fakes import dump, index_hash, job

README_FILTER = 'name LIKE "%Ingolia_2009%" AND BatchID > 20210101000000 AND data_type=="ribo"'


def _populate() -> None:
    psu.add_batch_to_queue(20201201000000, [job(0, name="Ingolia_2009", data_type="ribo")])
    psu.add_batch_to_queue(
        20210315000000,
        [job(0, name=["Ingolia_2009", "map"], data_type="ribo"), job(1, name=["Ingolia_2009", "map"], data_type="rna")],
    )
    psu.add_batch_to_queue(20210401000000, [job(0, name="Yang_2015", data_type="ribo", state="complete")])


@pytest.fixture
def filled(env) -> Path:
    _populate()
    return env.db


def test_readme_filter_selects_the_ingolia_ribo_jobs_after_2021(filled: Path) -> None:
    got = psu.get_queue(Filter=README_FILTER, Verbose=False)
    assert {b: [j["JobIndex"] for j in jobs] for b, jobs in got.items()} == {20210315000000: [0]}


def test_readme_filter_in_submit_jobs_submits_only_matching_jobs(filled: Path, env) -> None:
    assert psu.submit_jobs(Filter=README_FILTER) == 1
    assert env.script.read_text().count("# psu20210315000000_0\n") == 1


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("state = 'init'", {(20201201000000, 0), (20210315000000, 0), (20210315000000, 1)}),
        ('STATE == "complete"', {(20210401000000, 0)}),
        ("json_extract(metadata, '$.script') = 'run.sh' AND JobIndex = 1", {(20210315000000, 1)}),
        (
            "lower(data_type) IN ('rna') OR BatchID BETWEEN 1 AND 20201231000000",
            {(20201201000000, 0), (20210315000000, 1)},
        ),
        ("name GLOB '*Yang*'", {(20210401000000, 0)}),
        (
            "exit_code IS NULL AND NOT (priority <> 1)",
            {(20201201000000, 0), (20210315000000, 0), (20210315000000, 1), (20210401000000, 0)},
        ),
        ("", {(20201201000000, 0), (20210315000000, 0), (20210315000000, 1), (20210401000000, 0)}),
        ("   ", {(20201201000000, 0), (20210315000000, 0), (20210315000000, 1), (20210401000000, 0)}),
    ],
)
def test_valid_filters_select_the_right_jobs(filled: Path, text: str, expected: set) -> None:
    got = psu.get_queue(Filter=text, Verbose=False)
    assert {(b, j["JobIndex"]) for b, jobs in got.items() for j in jobs} == expected


HOSTILE = [
    # statement chaining
    "1; DROP TABLE jobs",
    "state = 'init'; DELETE FROM jobs",
    "1); DELETE FROM jobs; --",
    "1;",
    # attaching, pragmas, extensions
    "1; ATTACH DATABASE '/tmp/psu-evil.db' AS evil",
    "ATTACH '/tmp/psu-evil.db' AS evil",
    "PRAGMA writable_schema = 1",
    "1) OR (PRAGMA journal_mode = delete",
    "pragma_table_info('jobs') IS NULL",
    "load_extension('/tmp/evil.so')",
    "load_extension('/tmp/evil.so') IS NULL AND 1",
    "VACUUM INTO '/tmp/psu-copy.db'",
    # writes in subqueries
    "BatchID IN (DELETE FROM jobs RETURNING BatchID)",
    "(UPDATE jobs SET state = 'pwned') IS NULL",
    "(INSERT INTO batches VALUES (1, 'x', 'y', 0)) IS NULL",
    "EXISTS (REPLACE INTO jobs (id) VALUES (1))",
    "replace(state, 'a', 'b') = 'x'; UPDATE jobs SET state = 'x'",
    # reading other tables
    "EXISTS (SELECT 1 FROM sqlite_master)",
    "(SELECT sql FROM sqlite_master LIMIT 1) LIKE '%'",
    "name IN (SELECT name FROM sqlite_schema)",
    "BatchID IN (SELECT BatchID FROM batches)",
    "BatchID IN (SELECT BatchID FROM spawns)",
    "(SELECT count(*) FROM log_history) >= 0",
    "(SELECT payload FROM status_snapshots) IS NULL",
    "BatchID IN (SELECT BatchID FROM jobs)",
    "1) UNION SELECT * FROM batches WHERE (1",
    "state = 'init' UNION SELECT * FROM jobs",
    "BatchID > 0 ORDER BY 1",
    "BatchID > 0 LIMIT 1",
    "BatchID IN batches",
    "BatchID IN jobs",
    "BatchID IN sqlite_master",
    "BatchID IN spawns",
    # comments
    "1 -- everything after this is gone",
    "state = 'init' --",
    "-- 1",
    "1 /* hidden */",
    "state = 'init' /*",
    "/**/1",
    # unknown functions and names
    "sqlite_version() > 0",
    "random() > 0",
    "randomblob(10) IS NOT NULL",
    "zeroblob(1000000000) IS NOT NULL",
    "readfile('/etc/passwd') IS NOT NULL",
    "writefile('/tmp/psu-evil', 'x') IS NOT NULL",
    "fts3_tokenizer('simple') IS NOT NULL",
    "sqlite_compileoption_used('X') = 1",
    "char(65) = 'A'",
    "printf('%s', name) = 'x'",
    "no_such_column = 1",
    "CAST(BatchID AS TEXT) = '1'",
    "CASE WHEN 1 THEN 1 END",
    "lower = 1",
    "json_each(metadata) IS NULL",
    "rowid = 1",
    "id = 1",
    "version > 0",
    "submitter IS NULL",
    "main.jobs.state = 'init'",
    "jobs.state = 'init'",
    # parameters, odd quoting, blobs
    "BatchID = ?",
    "BatchID = ?1",
    "BatchID = :x",
    "BatchID = @x",
    "BatchID = $x",
    "[BatchID] = 1",
    "`BatchID` = 1",
    "x'00' IS NOT NULL",
    "X'41' = 'A'",
    "state = 'init",
    'state = "init',
    "0x10 = 16",
    "1e",
    # unbalanced parentheses
    "((BatchID > 0)",
    "BatchID > 0)",
    ")(",
    "(",
    ")",
    "lower(name = 'x'",
    "BatchID > 0) OR (1",
    # NUL bytes and other control characters outside strings
    "\x00",
    "state = 'init'\x00; DROP TABLE jobs",
    "state = 'in\x00it'",
    "BatchID > 0 \\ 1",
    "BatchID > 0 # 1",
    "BatchID > 0 ! 1",
    "BatchID > 0 & 1",
    "BatchID > 0 | 1",
    "BatchID > 0 ~ 1",
    "BatchID > 0 . 1",
    "BatchID > 0 ;",
    # huge input
    "x" * (MAX_FILTER_LENGTH + 1),
    "BatchID > 0 AND " * 1000 + "1",
    "(" * 3000 + "1" + ")" * 3000,
    "1" + " OR 1" * 3000,
    "'" + "a" * 100_000 + "'",
    # not a string at all
    b"BatchID > 0",
    42,
    ["BatchID > 0"],
]


def _ids(value: object) -> str:
    text = repr(value)
    return text if len(text) < 40 else text[:37] + "..."


@pytest.mark.parametrize("text", HOSTILE, ids=_ids)
def test_compile_filter_refuses_hostile_input(text: str) -> None:
    with pytest.raises(psu.InvalidFilterError):
        compile_filter(text)


@pytest.mark.parametrize("text", HOSTILE, ids=_ids)
def test_hostile_filters_leave_the_index_byte_for_byte_unchanged(filled: Path, env, text: str) -> None:
    before, rows = index_hash(filled), dump(filled)
    with pytest.raises(psu.InvalidFilterError):
        psu.get_queue(Filter=text, Verbose=False)
    with pytest.raises(psu.InvalidFilterError):
        psu.get_queue(Filter=text)
    with pytest.raises(psu.InvalidFilterError):
        psu.submit_jobs(Filter=text)
    with pytest.raises(psu.InvalidFilterError):
        psu.periodic_submitter(Interval=0, Filter=text, MaxIterations=1, Verbose=False)
    assert index_hash(filled) == before
    assert dump(filled) == rows
    assert not env.script.exists()
    assert not Path("/tmp/psu-evil.db").exists()


#: Filters the whitelist lets through but that SQLite itself refuses when it runs them.
RUNTIME_ERRORS = [
    "abs(-9223372036854775808) > 0",
    "json_extract(metadata, 'not a path') IS NULL",
    "json_extract('{', '$') IS NULL",
    "name LIKE 'a' ESCAPE 'ab'",
    "substr(name, 1, 2, 3) = 'x'",
    "lower() = 'x'",
    "coalesce(1) = 1",
    "1 = = 1",
    "AND",
    "state = 'init' AND",
    "()",
    "BatchID > 0 << 1",
    "\u0663 = 3",  # an Arabic-Indic digit (the tokenizer must not take it for a number)
]


def test_non_ascii_digits_are_not_numbers() -> None:
    with pytest.raises(psu.InvalidFilterError):
        compile_filter("BatchID = \u0663")


@pytest.mark.parametrize("text", RUNTIME_ERRORS, ids=_ids)
def test_filters_sqlite_refuses_are_invalid_filter_errors_in_get_queue(filled: Path, text: str) -> None:
    before = index_hash(filled)
    with pytest.raises(psu.InvalidFilterError):
        psu.get_queue(Filter=text, Verbose=False)
    assert index_hash(filled) == before


@pytest.mark.parametrize("text", RUNTIME_ERRORS, ids=_ids)
def test_filters_sqlite_refuses_are_invalid_filter_errors_in_submit_jobs(filled: Path, env, text: str) -> None:
    before = dump(filled)
    with pytest.raises(psu.InvalidFilterError):
        psu.submit_jobs(Filter=text)
    assert dump(filled) == before
    assert not env.script.exists()


def test_quoted_identifiers_that_are_not_columns_are_strings(filled: Path) -> None:
    # SQLite's rule: "x" is the column x when it exists, else the string 'x'. Never another table.
    assert compile_filter("\"sqlite_master\" = 'sqlite_master'") == "('sqlite_master' = 'sqlite_master')"
    assert compile_filter('"BatchID" > 0') == '("BatchID" > 0)'
    got = psu.get_queue(Filter='"sqlite_master" = "batches"', Verbose=False)
    assert got == {}


def test_strings_may_hold_anything_but_nul(filled: Path) -> None:
    text = "name = '; DROP TABLE jobs; -- /* ATTACH (SELECT * FROM sqlite_master) ''x'''"
    assert psu.get_queue(Filter=text, Verbose=False) == {}


# -- property: any text is refused cleanly, or runs read-only ---------------------------------
_VOCAB = [
    *COLUMNS,
    *KEYWORDS,
    *FUNCTIONS,
    "(",
    ")",
    ",",
    "=",
    "==",
    "!=",
    "<>",
    "<",
    ">",
    "<=",
    ">=",
    "+",
    "-",
    "*",
    "/",
    "%",
    "||",
    "'init'",
    "'%a_%'",
    '"ribo"',
    "1",
    "0",
    "-1",
    "2.5",
    "1e3",
    "20210101000000",
    "'$.script'",
    "SELECT",
    "FROM",
    "jobs",
    "batches",
    "sqlite_master",
    ";",
    "--",
    "/*",
    "*/",
    "?",
    ":x",
    "PRAGMA",
    "ATTACH",
    "load_extension",
    "DELETE",
    "UPDATE",
    "'",
    '"',
    "\x00",
    "\u0663",
    "\u00a0",
]
filter_texts = st.one_of(
    st.text(max_size=60),
    st.lists(st.sampled_from(_VOCAB), max_size=14).map(" ".join),
    st.lists(st.sampled_from(_VOCAB), max_size=14).map("".join),
)


@settings(max_examples=250, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(text=filter_texts)
@example(text="\u0663 = 3")
@example(text="abs(-9223372036854775808) > 0")
def test_any_text_compiles_to_a_read_only_condition_or_is_refused(filled: Path, text: str) -> None:
    before = index_hash(filled)
    try:
        clause = compile_filter(text)
    except psu.InvalidFilterError:
        clause = "refused"
    try:
        result = psu.get_queue(Filter=text, Verbose=False)
    except psu.InvalidFilterError:
        pass
    else:
        assert clause != "refused"
        assert isinstance(result, dict)
    assert index_hash(filled) == before


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(text=filter_texts)
@example(text="\u0663 = 3")
def test_any_text_submits_or_is_refused_with_invalid_filter_error(filled: Path, text: str) -> None:
    try:
        count = psu.submit_jobs(Filter=text)
    except psu.InvalidFilterError:
        return
    assert isinstance(count, int) and count >= 0


def test_the_sql_guard_alone_blocks_what_the_tokenizer_would_miss(filled: Path, env) -> None:
    """Defence in depth: even a clause that skipped the tokenizer cannot read other tables or write."""
    index = paraschut_session().index
    before = index_hash(filled)
    for raw in (
        "BatchID IN (SELECT BatchID FROM batches)",
        "EXISTS (SELECT 1 FROM sqlite_master)",
        "load_extension('x') IS NULL",
        "randomblob(4) IS NOT NULL",
    ):
        with pytest.raises(psu.InvalidFilterError):
            index.jobs(raw)
    assert index_hash(filled) == before
    # the authorizer is removed afterwards: ordinary queries still work
    assert index.batch_ids() == [20201201000000, 20210315000000, 20210401000000]


def paraschut_session():
    from paraschut.session import get_session

    return get_session()


def test_an_authorizer_denial_is_not_mistaken_for_an_open_door() -> None:
    conn = sqlite3.connect(":memory:")
    conn.execute("CREATE TABLE jobs (BatchID)")
    conn.execute("CREATE TABLE batches (BatchID)")
    from paraschut.db import read_only_authorizer

    conn.set_authorizer(read_only_authorizer)
    with pytest.raises(sqlite3.DatabaseError):
        conn.execute("SELECT * FROM batches").fetchall()
    with pytest.raises(sqlite3.DatabaseError):
        conn.execute("INSERT INTO jobs VALUES (1)")
    assert conn.execute("SELECT count(*) FROM jobs").fetchall() == [(0,)]
