"""The job index: uniqueness, field-wise updates without lost writes, atomic edits, file settings."""

from __future__ import annotations

import os
import sqlite3
import stat
from collections import namedtuple
from pathlib import Path

import pytest

import paraschut as psu
from paraschut import db
from paraschut.db import JobIndex, filesystem_type
from paraschut.migrations import SCHEMA_VERSION
from paraschut.session import get_session

from ._fakes import dump, job


# -- uniqueness --------------------------------------------------------------------------------
def test_batch_and_job_index_are_unique(env) -> None:
    psu.add_batch_to_queue(1, [job(0), job(1)])
    before = dump(env.db)
    with pytest.raises(psu.InvalidJobError) as error:
        psu.add_batch_to_queue(1, [job(2), job(1)])
    assert error.value.field == "JobIndex"
    with pytest.raises(psu.InvalidJobError):
        psu.add_job_to_queue({**job(0), "BatchID": 1})
    with pytest.raises(psu.InvalidJobError):
        psu.add_batch_to_queue(2, [job(0), job(0)])
    assert dump(env.db) == before


def test_job_index_defaults(env) -> None:
    assert psu.add_batch_to_queue(5, [job(), job(), job(7)]) == 3
    assert sorted(j["JobIndex"] for j in psu.get_queue(Verbose=False)[5]) == [0, 1, 7]
    info = {**job(), "BatchID": 5}
    assert psu.add_job_to_queue(info) == 8
    assert info["JobIndex"] == 8
    assert psu.add_job_to_queue({**job(), "BatchID": 6}) == 0


def test_add_job_to_queue_picks_a_free_index_under_a_race(env) -> None:
    """The next JobIndex is chosen inside the insert's transaction: concurrent adders never collide."""
    import multiprocessing

    psu.add_batch_to_queue(1, [job(0)])
    ctx = multiprocessing.get_context("fork")
    with ctx.Pool(4) as pool:
        got = pool.map(_add_one, range(40))
    assert sorted(got) == list(range(1, 41))
    assert sorted(j["JobIndex"] for j in psu.get_queue(Verbose=False)[1]) == list(range(41))


def _add_one(_: int) -> int:
    from paraschut.session import reset_sessions

    reset_sessions()  # a forked child opens its own connection
    return psu.add_job_to_queue({**job(), "BatchID": 1})


def test_an_empty_batch_is_refused(env) -> None:
    with pytest.raises(psu.InvalidJobError):
        psu.add_batch_to_queue(1, [])


def test_unknown_jobs_raise_job_not_found(env) -> None:
    psu.add_batch_to_queue(1, [job(0)])
    with pytest.raises(psu.JobNotFoundError):
        psu.get_job_info(1, 1)
    with pytest.raises(psu.JobNotFoundError):
        psu.update_job({"BatchID": 2, "JobIndex": 0, "x": 1})
    with pytest.raises(psu.JobNotFoundError):
        psu.modify_job(1, 5, lambda j: None)


# -- update_job: only what changed, never a lost update -------------------------------------------
def test_update_job_writes_only_changed_fields_and_keeps_other_changes(env) -> None:
    psu.add_batch_to_queue(1, [job(0, a=1, b=1, nested={"x": [1]})])
    mine = psu.get_job_info(1, 0)
    theirs = psu.get_job_info(1, 0)
    theirs["b"] = 2
    theirs["c"] = "new"
    theirs["state"] = "run"
    psu.update_job(theirs)
    mine["a"] = 10
    mine["nested"]["x"].append(2)
    psu.update_job(mine)
    got = psu.get_job_info(1, 0)
    assert (got["a"], got["b"], got["c"], got["state"], got["nested"]) == (10, 2, "new", "run", {"x": [1, 2]})
    # update_job refreshes the caller's dict, which may be used again
    assert mine["b"] == 2 and mine["c"] == "new"
    mine["a"] = 11
    psu.update_job(mine)
    assert psu.get_job_info(1, 0)["a"] == 11


def test_conflicting_change_raises_and_writes_nothing(env) -> None:
    psu.add_batch_to_queue(1, [job(0, a=1, b=1)])
    mine = psu.get_job_info(1, 0)
    theirs = psu.get_job_info(1, 0)
    theirs["a"] = 2
    psu.update_job(theirs)
    before = dump(env.db)
    mine["a"] = 3
    mine["b"] = 3
    with pytest.raises(psu.ConflictError) as error:
        psu.update_job(mine)
    assert error.value.fields == ["a"]
    assert (error.value.batch_id, error.value.job_index) == (1, 0)
    assert dump(env.db) == before
    got = psu.get_job_info(1, 0)
    assert (got["a"], got["b"]) == (2, 1)


LOST_UPDATE = (
    "BUG: db.merge_update does not count a field as a conflict when another process changed it to the "
    "same value this one writes; two read-modify-writes (n -> n+1) from the same read both succeed and "
    "one increment is lost silently. Fix: conflict whenever current != origin for a written field"
)


def test_two_increments_from_the_same_read_do_not_both_succeed(env) -> None:
    psu.add_batch_to_queue(1, [job(0, n=5)])
    mine, theirs = psu.get_job_info(1, 0), psu.get_job_info(1, 0)
    theirs["n"] += 1
    psu.update_job(theirs)
    mine["n"] += 1
    with pytest.raises(psu.ConflictError):
        psu.update_job(mine)  # succeeded silently: n is 6 after two increments


def test_removing_a_field_conflicts_with_changing_it(env) -> None:
    psu.add_batch_to_queue(1, [job(0, a=1, b=1)])
    mine, theirs = psu.get_job_info(1, 0), psu.get_job_info(1, 0)
    theirs["a"] = 2
    psu.update_job(theirs)
    del mine["a"]
    with pytest.raises(psu.ConflictError):
        psu.update_job(mine)
    mine["a"] = 2  # even the value the other process wrote: both started from the same read
    with pytest.raises(psu.ConflictError):
        psu.update_job(mine)
    mine = psu.get_job_info(1, 0)
    del mine["b"]
    psu.update_job(mine)
    got = psu.get_job_info(1, 0)
    assert "b" not in got and got["a"] == 2


def test_force_overrides_a_conflict(env) -> None:
    psu.add_batch_to_queue(1, [job(0)])
    mine, theirs = psu.get_job_info(1, 0), psu.get_job_info(1, 0)
    theirs["state"] = "run"
    psu.update_job(theirs)
    mine["state"] = "complete"
    psu.update_job(mine, force={"state"})
    assert psu.get_job_info(1, 0)["state"] == "complete"


def test_a_plain_dict_writes_every_field_it_holds(env) -> None:
    psu.add_batch_to_queue(1, [job(0, a=1)])
    psu.update_job({"BatchID": 1, "JobIndex": 0, "a": 2, "z": [None]})
    got = psu.get_job_info(1, 0)
    assert (got["a"], got["z"], got["script"]) == (2, [None], "run.sh")


def test_set_complete_wins_over_a_concurrent_state_change(env) -> None:
    psu.add_batch_to_queue(1, [job(0)])
    mine = psu.get_job_info(1, 0)
    psu.set_job_field(1, 0, Value="run")
    psu.set_complete(mine)
    assert psu.get_job_info(1, 0)["state"] == "complete"


@pytest.mark.parametrize(("field", "value"), [("priority", "high"), ("priority", None), ("vars", ["A"]), ("name", 5)])
def test_update_job_checks_field_types_like_add(env, field: str, value: object) -> None:
    psu.add_batch_to_queue(1, [job(0)])
    info = psu.get_job_info(1, 0)
    info[field] = value
    before = dump(env.db)
    with pytest.raises(psu.InvalidJobError):
        psu.update_job(info)
    assert dump(env.db) == before


# -- locked_job / modify_job -----------------------------------------------------------------------
def test_modify_job_applies_the_function_under_the_lock(env) -> None:
    psu.add_batch_to_queue(1, [job(0, n=0)])

    def bump(j: dict) -> None:
        j["n"] += 1
        j.setdefault("log", []).append(j["n"])

    for _ in range(3):
        out = psu.modify_job(1, 0, bump)
    assert out["n"] == 3 and out["log"] == [1, 2, 3]
    assert psu.get_job_info(1, 0)["log"] == [1, 2, 3]


def test_locked_job_is_all_or_nothing(env) -> None:
    psu.add_batch_to_queue(1, [job(0, n=0)])
    before = dump(env.db)
    with pytest.raises(RuntimeError):
        with psu.locked_job(1, 0) as j:
            j["n"] = 99
            raise RuntimeError("changed my mind")
    with pytest.raises(psu.InvalidJobError):
        with psu.locked_job(1, 0) as j:
            j["JobIndex"] = 5
    with pytest.raises(psu.InvalidJobError):
        with psu.locked_job(1, 0) as j:
            j["n"] = 1
            j["bad"] = {1, 2}
    assert dump(env.db) == before
    with psu.locked_job(1, 0) as j:
        j["n"] = 1
        del j["script"]
    assert j["n"] == 1 and "script" not in j
    assert psu.get_job_info(1, 0)["n"] == 1
    assert "script" not in psu.get_job_info(1, 0)


def test_locked_job_holds_the_write_lock(env) -> None:
    psu.add_batch_to_queue(1, [job(0, n=0)])
    other = sqlite3.connect(env.db, timeout=0)
    try:
        with psu.locked_job(1, 0):
            with pytest.raises(sqlite3.OperationalError, match="locked"):
                other.execute("BEGIN IMMEDIATE")
        other.execute("BEGIN IMMEDIATE")
        other.execute("ROLLBACK")
    finally:
        other.close()


def test_a_busy_index_raises_index_busy_error(env, monkeypatch: pytest.MonkeyPatch) -> None:
    psu.add_batch_to_queue(1, [job(0)])
    monkeypatch.setenv("PARASCHUT_BUSY_TIMEOUT", "0")
    blocker = sqlite3.connect(env.db)
    blocker.execute("BEGIN IMMEDIATE")
    try:
        with pytest.raises(psu.IndexBusyError):
            psu.set_job_field(1, 0, Value="run")
    finally:
        blocker.execute("ROLLBACK")
        blocker.close()
    assert psu.get_job_info(1, 0)["state"] == "init"


# -- set_batch_field on column fields ----------------------------------------------------------------
def test_set_job_field_on_a_column_field_replaces_a_list_value(env) -> None:
    psu.add_batch_to_queue(1, [job(0, name=["human", "genome_map"])])
    psu.set_job_field(1, 0, Field="name", Value="renamed")
    assert psu.get_job_info(1, 0)["name"] == "renamed"


def test_set_job_field_on_a_metadata_field(env) -> None:
    psu.add_batch_to_queue(1, [job(0, keep={"x": 1}), job(1)])
    assert psu.set_job_field(1, [0, 1], Field="mem", Value={"gb": 4}) == 2
    got = psu.get_job_info(1, 0)
    assert got["mem"] == {"gb": 4} and got["keep"] == {"x": 1}


# -- the file -------------------------------------------------------------------------------------
def test_a_new_index_is_private(env, tmp_path: Path) -> None:
    path = tmp_path / "new" / "deeper" / "jobs.sqlite"
    index = JobIndex(str(path))
    try:
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
        assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
        index.add_jobs({"BatchID": 1}, [{**job(0), "BatchID": 1}])
        for extra in (Path(f"{path}-wal"), Path(f"{path}-shm")):
            if extra.exists():
                assert stat.S_IMODE(extra.stat().st_mode) & 0o077 == 0, extra
    finally:
        index.close()


def test_a_new_index_is_private_even_with_a_permissive_umask(tmp_path: Path) -> None:
    old = os.umask(0)
    try:
        index = JobIndex(str(tmp_path / "jobs.sqlite"))
        index.close()
    finally:
        os.umask(old)
    assert stat.S_IMODE((tmp_path / "jobs.sqlite").stat().st_mode) == 0o600


def test_the_api_creates_the_index_private(env) -> None:
    psu.add_batch_to_queue(1, [job(0)])
    assert stat.S_IMODE(env.db.stat().st_mode) == 0o600


def test_journal_mode_is_wal_on_a_local_disk(env) -> None:
    psu.add_batch_to_queue(1, [job(0)])
    assert get_session().index.journal_mode == "wal"
    conn = sqlite3.connect(env.db)
    try:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    finally:
        conn.close()


def test_journal_mode_is_delete_on_a_network_file_system(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(db, "filesystem_type", lambda path: "nfs4")
    index = JobIndex(str(tmp_path / "jobs.sqlite"))
    try:
        assert index.journal_mode == "delete"
        assert index.query("PRAGMA journal_mode")[0][0] == "delete"
    finally:
        index.close()


def test_journal_mode_setting_is_obeyed(env, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PARASCHUT_JOURNAL_MODE", "truncate")
    psu.add_batch_to_queue(1, [job(0)])
    assert get_session().index.query("PRAGMA journal_mode")[0][0] == "truncate"


Partition = namedtuple("Partition", "device mountpoint fstype opts")


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ("/zzpsu/data/local/x/jobs.sqlite", "ext4"),
        ("/zzpsu/data/localx/jobs.sqlite", "nfs4"),
        ("/zzpsu/data/jobs.sqlite", "nfs4"),
        ("/zzpsu/data", "nfs4"),
        ("/zzpsu/dat/jobs.sqlite", "xfs"),
        ("/zzpsu/other", "overlay"),
        ("/zzpsu/data/local", "ext4"),
        ("/zzpsu/lustre/deep/a/b", "lustre"),
    ],
)
def test_filesystem_type_picks_the_longest_mount_prefix(
    monkeypatch: pytest.MonkeyPatch, path: str, expected: str
) -> None:
    parts = [
        Partition("root", "/", "overlay", "rw"),
        Partition("nas", "/zzpsu/data", "nfs4", "rw"),
        Partition("ssd", "/zzpsu/data/local/", "ext4", "rw"),
        Partition("scratch", "/zzpsu/dat", "xfs", "rw"),
        Partition("lfs", "/zzpsu/lustre", "lustre", "rw"),
        Partition("lfs2", "/zzpsu/lustre/deep/a/b/c", "ext4", "rw"),
    ]
    monkeypatch.setattr(db.psutil, "disk_partitions", lambda all=False: parts)  # noqa: A002
    assert filesystem_type(path) == expected


def test_filesystem_type_of_a_real_temp_dir_is_known(tmp_path: Path) -> None:
    assert filesystem_type(str(tmp_path)) != "unknown"


def test_schema_version_and_integrity(env) -> None:
    psu.add_batch_to_queue(1, [job(0)])
    index = get_session().index
    assert index.query("PRAGMA user_version")[0][0] == SCHEMA_VERSION
    assert index.integrity_check() == "ok"
    assert index.table_counts()["jobs"] == 1
    again = JobIndex(str(env.db))  # migrating an up-to-date index is a no-op
    again.close()


def _newer_index(tmp_path: Path) -> Path:
    path = tmp_path / "jobs.sqlite"
    conn = sqlite3.connect(path)
    conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    conn.close()
    return path


def test_an_index_from_a_newer_paraschut_is_refused(tmp_path: Path) -> None:
    with pytest.raises(Exception, match="newer"):
        JobIndex(str(_newer_index(tmp_path)))


def test_a_newer_index_error_is_a_paraschut_error(tmp_path: Path) -> None:
    path = _newer_index(tmp_path)
    with pytest.raises(psu.ParaschutError):
        JobIndex(str(path))


def test_importing_paraschut_leaves_sqlite_utils_for_doctor() -> None:
    """Every job script and command imports paraschut: sqlite-utils (a third of that import)
    loads only when the index's sqlite-utils view is used (doctor's table counts)."""
    import subprocess
    import sys

    probe = "import sys, paraschut; print('sqlite_utils' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "False"
