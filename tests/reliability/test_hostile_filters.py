"""Hostile Filters: the complete corpus, through every entry point that takes a Filter.

Each hostile Filter is refused with an InvalidFilterError (or, for resource bombs that are valid
SQL, bounded: refused when they grow past the cap, or answered quickly), and the index is byte for
byte unchanged, through get_queue, submit_jobs, periodic_submitter and the CLI's ``--filter``
(queue, submit, reset). set_batch_field, set_job_field and the qdel functions take no Filter.
"""

from __future__ import annotations

import hashlib
import io
import time
from contextlib import redirect_stderr, redirect_stdout
from pathlib import Path

import pytest

import paraschut as psu
from paraschut import cli, db
from paraschut.filters import MAX_FILTER_LENGTH

try:  # a package when tests/reliability has an __init__.py, plain modules when not
    from ._fuzz_helpers import Index, index, job
except ImportError:
    from _fuzz_helpers import Index, index, job

__all__ = ["index"]  # the fixture, re-exported for pytest

EVIL = "/tmp/psu-hostile-filter-evil"

HOSTILE: dict[str, list[str]] = {
    "statement chaining": [
        "1; DROP TABLE jobs", "state = 'init'; DELETE FROM jobs", "1); DELETE FROM jobs; --", "1;", "1;;",
        "1\n;DROP TABLE jobs", ";", "1 ; SELECT 1", "state = 'init'\x0b; DELETE FROM jobs",
    ],
    "attach, pragma, extensions, maintenance": [
        f"1; ATTACH DATABASE '{EVIL}' AS evil", f"ATTACH '{EVIL}' AS evil", "DETACH evil", "PRAGMA writable_schema = 1",
        "1) OR (PRAGMA journal_mode = delete", "pragma_table_info('jobs') IS NULL",
        "(SELECT name FROM pragma_table_list) IS NULL", "load_extension('/tmp/evil.so')",
        "load_extension('/tmp/evil.so') IS NULL AND 1", f"VACUUM INTO '{EVIL}'", "REINDEX jobs", "ANALYZE",
        "1; BEGIN", "1; COMMIT", "1; ROLLBACK", "SAVEPOINT x", "RELEASE x",
        "1; CREATE TRIGGER t AFTER UPDATE ON jobs BEGIN DELETE FROM jobs; END",
        "1; CREATE VIEW v AS SELECT 1", "1; CREATE TEMP TABLE t(x)", "1; ALTER TABLE jobs ADD x", "1; DROP INDEX x",
    ],
    "writes in subqueries": [
        "BatchID IN (DELETE FROM jobs RETURNING BatchID)", "(UPDATE jobs SET state = 'pwned') IS NULL",
        "(INSERT INTO batches VALUES (1, 'x', 'y', 0)) IS NULL", "EXISTS (REPLACE INTO jobs (id) VALUES (1))",
        "replace(state, 'a', 'b') = 'x'; UPDATE jobs SET state = 'x'",
        "BatchID IN (WITH d AS (DELETE FROM jobs RETURNING BatchID) SELECT * FROM d)",
        "EXISTS (INSERT OR REPLACE INTO status_snapshots VALUES ('x', 0, '{}', NULL))",
        "(UPSERT jobs) IS NULL",
    ],
    "reading other tables": [
        "EXISTS (SELECT 1 FROM sqlite_master)", "(SELECT sql FROM sqlite_master LIMIT 1) LIKE '%'",
        "name IN (SELECT name FROM sqlite_schema)", "name IN (SELECT name FROM sqlite_temp_master)",
        "EXISTS (SELECT * FROM sqlite_sequence)", "EXISTS (SELECT * FROM sqlite_stat1)",
        "BatchID IN (SELECT BatchID FROM batches)", "BatchID IN (SELECT BatchID FROM spawns)",
        "(SELECT count(*) FROM log_history) >= 0", "(SELECT payload FROM status_snapshots) IS NULL",
        "BatchID IN (SELECT BatchID FROM jobs)", "1) UNION SELECT * FROM batches WHERE (1",
        "state = 'init' UNION SELECT * FROM jobs", "BatchID > 0 ORDER BY 1", "BatchID > 0 LIMIT 1",
        "BatchID IN batches", "BatchID IN jobs", "BatchID IN sqlite_master", "BatchID IN spawns",
        "BatchID IN log_history", "BatchID IN status_snapshots", "EXISTS (SELECT 1 FROM json_each(metadata))",
        "EXISTS (SELECT 1 FROM json_tree(metadata))", "json_each(metadata) IS NULL", "main.jobs.state = 'init'",
        "jobs.state = 'init'", "temp.x = 1", "rowid = 1", "id = 1", "version > 0", "submitter IS NULL",
        "oid = 1", "_rowid_ = 1",
    ],
    "comments": [
        "1 -- everything after this is gone", "state = 'init' --", "-- 1", "1 /* hidden */", "state = 'init' /*",
        "/**/1", "1 /* /* nested */ */", "1 /* a */ /* b */", "1 --\nOR 1", "1 # note", "1 -\x2d x",
        "1 \u2014\u2014 x",
    ],
    "unknown or side-effect functions": [
        "sqlite_version() > 0", "random() > 0", "randomblob(10) IS NOT NULL", "randomblob(1000000000) IS NOT NULL",
        "zeroblob(1000000000) IS NOT NULL", "length(zeroblob(2147483647)) > 0",
        "readfile('/etc/passwd') IS NOT NULL", f"writefile('{EVIL}', 'x') IS NOT NULL", "edit('x') IS NULL",
        "fts3_tokenizer('simple') IS NOT NULL", "sqlite_compileoption_used('X') = 1", "char(65) = 'A'",
        "printf('%s', name) = 'x'", "format('%s', name) = 'x'", "hex(name) = ''", "quote(name) = ''",
        "unicode(name) = 1", "soundex(name) = ''", "changes() = 0", "total_changes() = 0",
        "last_insert_rowid() = 0", "sqlite_offset(name) = 0", "likely(1)", "unlikely(1)", "likelihood(1, 0.5)",
        "iif(1, 1, 0)", "sqlite_source_id() IS NULL", "count(*) > 0", "max(BatchID) > 0", "group_concat(name) = ''",
        "json(metadata) IS NULL", "json_set(metadata, '$.x', 1) IS NULL", "json_insert(metadata, '$.x', 1)",
        "no_such_column = 1", "CAST(BatchID AS TEXT) = '1'", "CASE WHEN 1 THEN 1 END", "lower = 1",
        "matches(name, 'x')", "name MATCH 'x'", "name REGEXP 'x'",
    ],
    "parameters, quoting and blob/hex literals": [
        "BatchID = ?", "BatchID = ?1", "BatchID = :x", "BatchID = @x", "BatchID = $x", "[BatchID] = 1",
        "`BatchID` = 1", "x'00' IS NOT NULL", "X'41' = 'A'", "x'", "0x10 = 16", "0X10 = 16", "1e", "1e+",
        "state = 'init", 'state = "init', "state = 'it''s", "1_000 = 1000",
    ],
    "recursive CTEs and subqueries": [
        "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c) SELECT x FROM c",
        "BatchID IN (WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c) SELECT x FROM c)",
        "EXISTS (SELECT 1)", "(SELECT 1) = 1", "BatchID IN (VALUES (1))", "1 IN (SELECT 1)",
    ],
    "unbalanced parentheses": [
        "((BatchID > 0)", "BatchID > 0)", ")(", "(", ")", "lower(name = 'x'", "BatchID > 0) OR (1", "1) OR (1",
    ],
    "control characters and look-alikes": [
        "\x00", "state = 'init'\x00; DROP TABLE jobs", "state = 'in\x00it'", "BatchID > 0 \\ 1", "BatchID > 0 ! 1",
        "BatchID > 0 & 1", "BatchID > 0 | 1", "BatchID > 0 ~ 1", "BatchID > 0 . 1", "BatchID > 0 ;",
        "BatchID = \u0663", "\uff22atchID > 0", "Batch\u0406D > 0", "1 \uff1b DROP TABLE jobs",
        "1 \u037e DROP TABLE jobs", "SEL\u200bECT", "BatchID\u00a0> 0", "BatchID > 0\u2028OR 1", "\u202eBatchID > 0",
        "BatchID \u2215 1 > 0", "BatchID \uff1d 1", "\ufeffBatchID > 0", "state = \u2018init\u2019",
        "state = \u201cinit\u201d", "\ud800", "BatchID > 0 AND \udfff",
    ],
    "huge input": [
        "x" * (MAX_FILTER_LENGTH + 1), "BatchID > 0 AND " * 1000 + "1", "(" * 3000 + "1" + ")" * 3000,
        "1" + " OR 1" * 3000, "'" + "a" * 100_000 + "'", "1 OR " * 500_000 + "1", "'" + "a" * 5_000_000 + "'",
        " " * 10_000_000 + "1", "(" * 1_000_000 + "1" + ")" * 1_000_000,
    ],
    "deep nesting (parser stack)": [
        "(" * 999 + "1" + ")" * 999, "NOT " * 1999 + "1", "- " * 1999 + "1",
        "lower(" * 999 + "name" + ")" * 999, "abs(" * 999 + "1" + ")" * 999,
    ],
    "not a string": [b"BatchID > 0", 42, ["BatchID > 0"], {"state": "init"}],  # type: ignore[list-item]
}
CORPUS = [(kind, text) for kind, texts in HOSTILE.items() for text in texts]


def _id(item: tuple[str, object]) -> str:
    text = repr(item[1])
    return f"{item[0]}:{text if len(text) < 40 else text[:37] + '...'}"


def index_bytes(index: Index) -> str:
    """sha256 over the index file and its WAL/journal, byte for byte (not the -shm file: readers
    write their read marks there, it holds no data)."""
    digest = hashlib.sha256()
    for path in sorted(index.home.glob(index.db.name + "*")):
        if path.name.endswith("-shm"):
            continue
        digest.update(path.name.encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()


@pytest.fixture
def filled(index: Index) -> Index:
    """Three batches (the README's Filter example selects batch 20210315000000's job 0), none submitted."""
    psu.add_batch_to_queue(20201201000000, [job(0, name="Ingolia_2009", data_type="ribo")])
    psu.add_batch_to_queue(20210315000000, [job(0, name=["Ingolia_2009", "map"], data_type="ribo"),
                                            job(1, name=["Ingolia_2009", "map"], data_type="rna")])
    psu.add_batch_to_queue(20210401000000, [job(0, name="Yang_2015", data_type="ribo", state="complete")])
    psu.get_queue(Verbose=False)  # the first poll's snapshot rows exist before the byte-for-byte checks
    return index


def run_cli(*argv: str) -> tuple[int, str]:
    err = io.StringIO()
    with redirect_stdout(io.StringIO()), redirect_stderr(err):
        code = cli.main(list(argv))
    return code, err.getvalue()


@pytest.mark.parametrize("item", CORPUS, ids=[_id(i) for i in CORPUS])
def test_hostile_filters_are_refused_and_change_nothing(filled: Index, item: tuple[str, object]) -> None:
    _, text = item
    before, files = index_bytes(filled), filled.state()[1]
    for call in (
        lambda: psu.get_queue(Filter=text, Verbose=False),
        lambda: psu.get_queue(Filter=text),
        lambda: psu.submit_jobs(Filter=text),
        lambda: psu.periodic_submitter(Interval=0, Filter=text, MaxIterations=1, Verbose=False),
    ):
        with pytest.raises(psu.InvalidFilterError):
            call()  # type: ignore[no-untyped-call]
    if isinstance(text, str) and "\x00" not in text and len(text) < 200_000:  # argv cannot hold NUL
        for argv in (["queue", "--filter", text], ["queue", "--json", "--filter", text],
                     ["submit", "--filter", text], ["reset", "--filter", text, "--all"],
                     ["reset", "20210315000000", "--filter", text]):
            code, err = run_cli(*argv)
            assert code == 1 and "Filter" in err and err.count("\n") == 1, (argv, code, err)
    assert index_bytes(filled) == before
    assert filled.state()[1] == files  # no job script, no folder, no file elsewhere in the test's home
    assert not Path(EVIL).exists()


def test_a_filter_cannot_escape_the_batch_the_cli_adds(filled: Index) -> None:
    """`reset BATCH --filter F` is F AND BatchID = BATCH: a Filter closing its own parenthesis
    ("1) OR (1") would balance once wrapped and reset every batch; it is refused on its own."""
    psu.set_batch_field(20201201000000, Field="state", Value="failed")
    before = filled.state()
    code, err = run_cli("reset", "20210315000000", "--filter", "1) OR (1")
    assert code == 1 and "unbalanced" in err
    assert filled.state() == before
    assert psu.get_job_info(20201201000000, 0)["state"] == "failed"


# -- resource bombs that are valid SQL: bounded -------------------------------------------------
def _nested_replace(levels: int) -> str:
    text = "'aaaaaaaaaa'"
    for _ in range(levels):
        text = f"replace({text}, 'a', 'aaaaaaaaaa')"
    return text


BOMBS = {
    "replace memory bomb (10 GB)": f"length({_nested_replace(9)}) > 0",
    "replace bomb over a column": f"length(replace(replace(replace(replace(name, 'a', {'a' * 9000!r}), 'a', "
                                  f"{'a' * 9000!r}), 'a', 'aaaaaaaaaa'), 'a', 'aaaaaaaaaa')) > 0",
    "concatenation of built strings": " || ".join([_nested_replace(5)] * 200) + " IS NULL",
    "LIKE pattern built huge": f"name LIKE {_nested_replace(6)}",
}


@pytest.mark.parametrize("text", BOMBS.values(), ids=list(BOMBS))
def test_memory_bombs_are_stopped_at_the_cap(filled: Index, text: str) -> None:
    before = index_bytes(filled)
    for call in (lambda: psu.get_queue(Filter=text, Verbose=False), lambda: psu.submit_jobs(Filter=text)):
        with pytest.raises(psu.InvalidFilterError, match="longer than|too complex|too big"):
            call()
    assert index_bytes(filled) == before


PATHOLOGICAL = {
    "LIKE with many wildcards": "name LIKE '" + "%a" * 2000 + "%b'",
    "GLOB with many wildcards": "name GLOB '" + "*a" * 2000 + "*b'",
    "LIKE with many underscores": "name LIKE '" + "_%" * 2000 + "'",
    "LIKE escape games": "name LIKE '" + "%!%" * 1500 + "' ESCAPE '!'",
    "a replace that stays under the cap": f"length({_nested_replace(5)}) > 0",
    "deep but legal nesting": "(" * 90 + "BatchID > 0" + ")" * 90,
    "strftime with a long format": "strftime('" + "%Y%m%d%H%M%f%j%s" * 300 + "', 'now') IS NOT NULL",
}


@pytest.mark.parametrize("text", PATHOLOGICAL.values(), ids=list(PATHOLOGICAL))
def test_pathological_but_bounded_filters_answer_or_are_refused(filled: Index, text: str) -> None:
    for _ in range(200):  # long names to match against
        psu.add_job_to_queue({**job(None, name="a" * 3000), "BatchID": 99})
    before = index_bytes(filled)
    started = time.monotonic()
    try:
        psu.get_queue(Filter=text, Verbose=False)
    except psu.InvalidFilterError:
        pass
    print(f"{time.monotonic() - started:.2f} s")  # a figure, not an assertion: the guard bounds the time
    assert index_bytes(filled) == before


def test_a_filter_running_too_long_is_stopped(filled: Index, monkeypatch: pytest.MonkeyPatch) -> None:
    for _ in range(300):
        psu.add_job_to_queue({**job(None, name="a" * 3000), "BatchID": 99})
    monkeypatch.setattr(db, "FILTER_SECONDS", 0.0)  # every query over many rows now overruns
    before = index_bytes(filled)
    slow = "length(replace(name, 'a', 'bb')) > 0 AND name LIKE '%a%a%a%b'"
    with pytest.raises(psu.InvalidFilterError, match="longer than 0 s"):
        psu.get_queue(Filter=slow, Verbose=False)
    with pytest.raises(psu.InvalidFilterError, match="longer than 0 s"):
        psu.submit_jobs(Filter=slow)
    assert index_bytes(filled) == before
    monkeypatch.setattr(db, "FILTER_SECONDS", 60.0)
    assert psu.get_queue(Filter=slow, Verbose=False) == {}  # the guard is removed after each query


def test_the_guard_keeps_big_stored_values_readable(filled: Index) -> None:
    """The length cap is only set for Filters that build strings: a job whose metadata is larger
    than the cap is still listed and filtered."""
    big = "x" * (db.FILTER_MAX_LENGTH + 10)
    psu.add_job_to_queue({**job(None), "BatchID": 5, "blob": big})
    got = psu.get_queue(Filter="BatchID = 5 AND length(metadata) > 1000", Verbose=False)
    assert [j["blob"] == big for j in got[5]] == [True]
    with pytest.raises(psu.InvalidFilterError, match="longer than"):
        psu.get_queue(Filter="BatchID = 5 AND length(metadata || '') > 0", Verbose=False)


def test_the_readme_filter_still_works_everywhere(filled: Index) -> None:
    readme = 'name LIKE "%Ingolia_2009%" AND BatchID > 20210101000000 AND data_type=="ribo"'
    got = psu.get_queue(Filter=readme, Verbose=False)
    assert {b: [j["JobIndex"] for j in jobs] for b, jobs in got.items()} == {20210315000000: [0]}
    code, _ = run_cli("reset", "20210315000000", "--filter", "JobIndex = 1")
    assert code == 0
    assert psu.submit_jobs(Filter=readme) == 1
    assert filled.script.read_text().count("# psu20210315000000_0\n") == 1
