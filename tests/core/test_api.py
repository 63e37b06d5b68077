"""The documented function API, following the README workflow with the file executor."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import pytest

import paraschut as psu
from paraschut.session import get_session

from ._fakes import dump, job, script_lines


def _states(batch: int) -> dict[int, str]:
    return {j["JobIndex"]: j["state"] for j in psu.get_queue(Verbose=False).get(batch, [])}


# -- preparation ---------------------------------------------------------------------------------
def test_job_template_has_the_readme_fields(env) -> None:
    before = int(time.time())
    template = psu.get_job_template(SetID=True)
    assert before <= template["BatchID"] <= int(time.time())
    assert template["JobIndex"] is None
    assert template["priority"] == 1 and template["state"] == "init"
    assert {"name", "data_type", "data", "script", "queue", "resources"} <= set(template)
    assert psu.get_job_template()["BatchID"] is None
    # a fresh copy every time
    template["resources"]["mem"] = "99gb"
    assert psu.get_job_template()["resources"]["mem"] == "1gb"


def test_job_template_takes_defaults_from_the_config_file(env, monkeypatch: pytest.MonkeyPatch) -> None:
    config = env.home / "psu.toml"
    config.write_text('[template]\nqueue = "short"\npriority = 5\n[template.resources]\nmem = "8gb"\n')
    monkeypatch.setenv("PARASCHUT_CONFIG", str(config))
    template = psu.get_job_template()
    assert (template["queue"], template["priority"], template["resources"]) == ("short", 5, {"mem": "8gb"})


def test_generate_script_replaces_fields(env, tmp_path: Path) -> None:
    template = tmp_path / "tmpl.sh"
    template.write_text("echo @name @BatchID @JobIndex @data_type @PYTHON @DB @JOBDIR @unknown @BatchIDx\n")
    info = {**psu.get_job_template(), "BatchID": 42, "JobIndex": 3, "name": "sample", "script": str(template)}
    out = psu.generate_script(info)
    assert info["script"] == out
    assert Path(out).parent == env.job_dir / "42"
    assert os.access(out, os.X_OK)
    import sys

    text = Path(out).read_text()
    assert text.startswith("#!")
    assert (f"echo sample 42 3 foo {sys.executable} {env.db} {env.job_dir} @unknown 42x") in text
    # the template itself is untouched
    assert template.read_text().startswith("echo @name")


def test_generate_script_with_an_explicit_template_and_errors(env, tmp_path: Path) -> None:
    template = tmp_path / "t.py"
    template.write_text("#!/usr/bin/env python\nprint('@JobIndex')\n")
    info = {"BatchID": 1, "JobIndex": 0}
    assert Path(psu.generate_script(info, Template=str(template))).read_text() == "#!/usr/bin/env python\nprint('0')\n"
    with pytest.raises(psu.InvalidJobError):
        psu.generate_script({"BatchID": 1, "JobIndex": 0, "script": str(tmp_path / "absent.sh")})
    with pytest.raises(psu.InvalidJobError):
        psu.generate_script({"BatchID": None, "JobIndex": 0, "script": str(template)})


def test_generate_script_inserts_values_verbatim(env, tmp_path: Path) -> None:
    template = tmp_path / "tmpl.sh"
    template.write_text("#!/bin/sh\necho @note\n")
    info = {"BatchID": 1, "JobIndex": 0, "note": "mail me @DB", "script": str(template)}
    assert Path(psu.generate_script(info)).read_text() == "#!/bin/sh\necho mail me @DB\n"


def test_generate_data_writes_json_not_pickle(env) -> None:
    info = {"BatchID": 7, "JobIndex": 2}
    data = {"reads": [1, 2, (3, 4)], "name": "x", "ok": True, "none": None}
    path = psu.generate_data(info, data)
    assert info["data"] == path
    assert json.loads(Path(path).read_text()) == {"reads": [1, 2, [3, 4]], "name": "x", "ok": True, "none": None}
    assert Path(path).is_relative_to(env.job_dir / "7")
    with pytest.raises(psu.InvalidJobError):
        psu.generate_data(info, {"s": {1, 2}})
    with pytest.raises(psu.InvalidJobError):
        psu.generate_data({"BatchID": 7}, [1])


# -- the README workflow ---------------------------------------------------------------------------
def _map_reduce(batch: int = 100) -> None:
    template = psu.get_job_template()
    jobs = []
    for i in range(4):
        jobs.append({**template, "JobIndex": i, "priority": 2, "name": ["map", f"{i}"], "script": "map.sh"})
    jobs.append({**template, "JobIndex": 4, "priority": 1, "name": ["reduce"], "script": "reduce.sh"})
    assert psu.add_batch_to_queue(batch, jobs) == 5


def test_readme_workflow_submits_priority_groups_in_order(env) -> None:
    _map_reduce()
    assert (env.job_dir / "100").is_dir()
    assert psu.submit_jobs() == 4
    assert script_lines(env.script) == ["psu100_0", "psu100_1", "psu100_2", "psu100_3"]
    assert _states(100) == {0: "submit", 1: "submit", 2: "submit", 3: "submit", 4: "init"}
    assert psu.submit_jobs() == 0
    # the jobs run: each asks for its metadata (-> run) and completes
    for i in range(3):
        info = psu.get_job_info(100, i, SetID=True)
        assert info["state"] == "run" and info["hostname"]
        psu.set_complete(info)
    assert psu.submit_jobs() == 0  # job 3 still running
    psu.set_complete(psu.get_job_info(100, 3, SetID=True), Submit=True)
    assert script_lines(env.script)[-1] == "psu100_4"
    assert _states(100) == {0: "complete", 1: "complete", 2: "complete", 3: "complete", 4: "submit"}


def test_submitted_jobs_record_executor_cluster_id_and_logs(env) -> None:
    psu.add_batch_to_queue(1, [job(0, vars={"SAMPLE": "a b"}, queue="short")])
    psu.submit_jobs()
    info = psu.get_job_info(1, 0)
    assert info["executor"] == "file"
    assert info["ClusterID"].startswith("file:psu1_0@")
    assert info["submit_time"] > 0
    line = env.script.read_text().splitlines()[-1]
    assert "SAMPLE='a b'" in line and "PARASCHUT_BATCH_ID=1" in line and "PARASCHUT_JOB_INDEX=0" in line
    assert str(env.job_dir / "1" / "logs" / "0.0.out") in line


def test_get_queue_verbose_false_groups_by_batch(env) -> None:
    psu.add_batch_to_queue(2, [job(0), job(1)])
    psu.add_batch_to_queue(1, [job(0, name="other")])
    got = psu.get_queue(Verbose=False)
    assert list(got) == [1, 2]
    assert [j["JobIndex"] for j in got[2]] == [0, 1]
    assert all(isinstance(j, dict) and j["BatchID"] == b for b, js in got.items() for j in js)
    assert psu.get_queue(Filter="BatchID = 3", Verbose=False) == {}


def test_get_queue_prints_titles_states_and_summary(env, capsys: pytest.CaptureFixture[str]) -> None:
    _map_reduce(100)
    psu.add_batch_to_queue(200, [job(i, name="Yang_2015") for i in range(3)])
    psu.submit_jobs(Filter="BatchID = 100")
    psu.set_complete(psu.get_job_info(100, 0))
    psu.set_job_field(200, 2, Value="collected")
    assert psu.get_queue() is None
    out = capsys.readouterr().out
    assert "100: map/0" in out
    assert "200: Yang_2015" in out
    lines = [" ".join(line.split()) for line in out.splitlines()]
    first, second = lines.index("100: map/0"), lines.index("200: Yang_2015")
    assert lines[first + 1 : first + 4] == ["init: [4]", "submit: [1-3]", "complete: [0]"]
    assert lines[second + 1 : second + 3] == ["init: [0-1]", "collected: [2]"]
    summary = out.strip().splitlines()[-1]
    assert summary.startswith("on queue: 3 jobs, 0 running")
    assert "complete: 2/8" in summary


def test_get_queue_display_limits_the_states_shown(env, capsys: pytest.CaptureFixture[str]) -> None:
    _map_reduce(100)
    psu.add_batch_to_queue(200, [job(0, name="idle")])
    psu.submit_jobs(Filter="BatchID = 100")
    psu.get_queue(Display={"submit", "run", "spawn"})
    out = capsys.readouterr().out
    assert "submit:" in out and "init:" not in out
    assert "idle" not in out  # a batch with nothing to show has no title
    psu.get_queue(Filter="BatchID = 200")
    out = capsys.readouterr().out
    assert "200: idle" in out and "100:" not in out and "complete: 0/1" in out


# -- changing fields ----------------------------------------------------------------------------------
def _spread(batch: int) -> None:
    psu.add_batch_to_queue(batch, [job(i) for i in range(6)])
    for i, state in enumerate(["init", "submit", "run", "complete", "collected", "failed"]):
        psu.set_job_field(batch, i, Value=state, Unless={})


def test_set_batch_field_default_keeps_complete_and_collected(env) -> None:
    _spread(1)
    _spread(2)
    assert psu.set_batch_field(1) == 4
    assert _states(1) == {0: "init", 1: "init", 2: "init", 3: "complete", 4: "collected", 5: "init"}
    assert _states(2)[5] == "failed"


def test_set_batch_field_unless_empty_resets_all(env) -> None:
    _spread(1)
    psu.set_batch_field(1, Unless={})
    assert set(_states(1).values()) == {"init"}


def test_set_batch_field_takes_get_queue_output(env) -> None:
    _spread(1)
    _spread(2)
    selection = psu.get_queue(Filter="state = 'failed' AND BatchID = 2", Verbose=False)
    assert psu.set_batch_field(selection) == 1
    assert _states(2)[5] == "init" and _states(1)[5] == "failed"
    psu.set_batch_field([1, 2], Unless={"complete"}, Field="state", Value="held")
    assert _states(1)[3] == "complete" and _states(1)[4] == "held"


def test_set_job_field_with_a_list_of_job_indices(env) -> None:
    _spread(1)
    assert psu.set_job_field(1, [3, 4, 5], Unless={}) == 3
    assert [_states(1)[i] for i in (3, 4, 5)] == ["init", "init", "init"]
    assert psu.set_job_field(1, 0, Field="priority", Value=7) == 1
    assert psu.get_job_info(1, 0)["priority"] == 7


@pytest.mark.parametrize("field", ["BatchID", "JobIndex", "updated", "version", "", 5])
def test_set_field_refuses_identity_fields(env, field: object) -> None:
    psu.add_batch_to_queue(1, [job(0)])
    with pytest.raises(psu.InvalidJobError):
        psu.set_batch_field(1, Field=field, Value=1)
    with pytest.raises(psu.InvalidJobError):
        psu.set_batch_field(1, Value="")


# -- cancelling and removing -------------------------------------------------------------------------
def test_qdel_returns_jobs_to_init(env) -> None:
    psu.add_batch_to_queue(1, [job(i) for i in range(4)])
    psu.add_batch_to_queue(2, [job(0)])
    psu.submit_jobs()
    psu.set_complete(psu.get_job_info(1, 3))
    assert psu.qdel_job(1, [0, 1]) == 2
    assert _states(1) == {0: "init", 1: "init", 2: "submit", 3: "complete"}
    assert psu.qdel_batch(1) == 1
    assert _states(1) == {0: "init", 1: "init", 2: "init", 3: "complete"}
    assert _states(2) == {0: "submit"}


def test_qdel_asks_the_executor_to_cancel(env) -> None:
    psu.add_batch_to_queue(1, [job(0), job(1)])
    psu.submit_jobs(Executor="fake")
    assert psu.qdel_batch(1) == 2
    assert sorted(env.fake.cancelled) == ["fake-0", "fake-1"]


def test_remove_batch_removes_rows_and_folder(env) -> None:
    psu.add_batch_to_queue(1, [job(0), job(1)])
    psu.add_batch_to_queue(2, [job(0)])
    psu.submit_jobs()
    (env.job_dir / "1" / "out.txt").write_text("x")
    assert psu.remove_batch(1) == 2
    assert not (env.job_dir / "1").exists()
    assert (env.job_dir / "2").is_dir()
    assert list(psu.get_queue(Verbose=False)) == [2]
    index = get_session().index
    assert index.query("SELECT COUNT(*) FROM log_history WHERE BatchID=1")[0][0] == 0
    assert index.batch(1) is None
    with pytest.raises(psu.JobNotFoundError):
        psu.get_job_info(1, 0)


def test_remove_batch_never_deletes_a_folder_outside_the_job_dir(env, tmp_path: Path) -> None:
    psu.add_batch_to_queue(1, [job(0)])
    own = tmp_path / "mine"
    own.mkdir()
    with get_session().index.write() as conn:
        conn.execute("UPDATE batches SET job_dir=? WHERE BatchID=1", (str(own),))
    psu.remove_batch(1)
    assert own.is_dir()


def test_remove_batch_with_part_of_a_batch_keeps_its_folder(env) -> None:
    psu.add_batch_to_queue(1, [job(0), job(1)])
    psu.remove_batch(psu.get_queue(Filter="JobIndex = 0", Verbose=False))
    assert [j["JobIndex"] for j in psu.get_queue(Verbose=False)[1]] == [1]
    assert (env.job_dir / "1").is_dir()


def test_remove_batch_by_state(env) -> None:
    psu.add_batch_to_queue(1, [job(0), job(1, state="complete")])
    psu.add_batch_to_queue(2, [job(0, state="complete")])
    psu.add_batch_to_queue(3, [job(0, state="failed")])
    assert psu.remove_batch_by_state("complete") == 2
    assert not (env.job_dir / "2").exists()
    assert (env.job_dir / "1").is_dir()
    assert _states(1) == {0: "init"}
    assert psu.remove_batch_by_state({"failed", "init"}) == 2
    assert psu.get_queue(Verbose=False) == {}
    assert get_session().index.batch_ids() == []


def test_remove_batch_by_state_cancels_active_jobs(env) -> None:
    psu.add_batch_to_queue(1, [job(0), job(1)])
    psu.submit_jobs(Executor="fake")
    assert psu.remove_batch_by_state("submit") == 2
    assert sorted(env.fake.cancelled) == ["fake-0", "fake-1"]


# -- logs -------------------------------------------------------------------------------------------
def _runs_with_logs(env) -> list[dict]:
    psu.add_batch_to_queue(1, [job(0)])
    for run in range(2):
        psu.submit_jobs()
        psu.set_batch_field(1, Unless={})
    rows = get_session().index.query("SELECT * FROM log_history WHERE BatchID=1 ORDER BY id")
    assert [r["run"] for r in rows] == [0, 1]
    for r in rows:
        Path(r["stdout"]).write_text("\n".join(f"run{r['run']} out line {i}" for i in range(50)) + "\n")
        Path(r["stderr"]).write_text(f"run{r['run']} ERROR: boom\nrun{r['run']} warning: meh\n")
    return [dict(r) for r in rows]


def test_print_log_prints_the_last_run(env, capsys: pytest.CaptureFixture[str]) -> None:
    rows = _runs_with_logs(env)
    assert rows[1]["stdout"].endswith("0.1.out")
    text = psu.print_log(1, 0)
    assert capsys.readouterr().out == text + "\n"
    assert text.splitlines() == [f"run1 out line {i}" for i in range(20, 50)]


def test_print_log_options(env) -> None:
    _runs_with_logs(env)
    assert psu.print_log(1, 0, "stderr", Verbose=False) == "run1 ERROR: boom\nrun1 warning: meh"
    assert psu.print_log(1, 0, "stderr", 0, Verbose=False).startswith("run0 ERROR")
    assert psu.print_log(1, 0, "stdout", LogIdx=0, Lines=2, Verbose=False) == "run0 out line 48\nrun0 out line 49"
    assert psu.print_log(1, 0, "stdout", -1, None, r"line 4\d$", Verbose=False).splitlines()[0] == "run1 out line 40"
    assert psu.print_log(1, 0, "stderr", RegEx="ERROR", Verbose=False) == "run1 ERROR: boom"
    assert len(psu.print_log(1, 0, Lines=None, Verbose=False).splitlines()) == 50


def test_print_log_errors(env) -> None:
    psu.add_batch_to_queue(1, [job(0), job(1)])
    with pytest.raises(psu.JobNotFoundError):
        psu.print_log(1, 9)
    with pytest.raises(psu.ParaschutError, match="no recorded runs"):
        psu.print_log(1, 0)
    psu.submit_jobs(Executor="fake")
    assert psu.print_log(1, 0, Verbose=False) == ""  # created empty (owner-only) at submission
    (stdout,) = get_session().index.query("SELECT stdout FROM log_history WHERE BatchID=1 AND JobIndex=0")[0]
    os.unlink(stdout)
    assert psu.print_log(1, 0, Verbose=False) == ""  # still queued: no log yet reads as empty
    psu.set_job_field(1, 0, Field="state", Value="run")  # it started: a missing log is named
    with pytest.raises(psu.ParaschutError, match="does not exist"):
        psu.print_log(1, 0)
    with pytest.raises(psu.ParaschutError, match="LogIdx"):
        psu.print_log(1, 0, LogIdx=5)
    with pytest.raises(psu.ParaschutError):
        psu.print_log(1, 0, "stdin")


def test_print_log_of_a_job_the_file_executor_has_not_run_is_empty(env) -> None:
    # the file executor's line creates the logs when the user runs it: until then, empty
    psu.add_batch_to_queue(1, [job(0)])
    assert psu.submit_jobs() == 1
    (stdout,) = get_session().index.query("SELECT stdout FROM log_history WHERE BatchID=1 AND JobIndex=0")[0]
    assert not os.path.exists(stdout)
    assert psu.print_log(1, 0, Verbose=False) == "" and psu.print_log(1, 0, "stderr", Verbose=False) == ""


def test_print_log_asks_the_executor_where_a_log_went(env, tmp_path: Path) -> None:
    # a scheduler that names its own files (SGE with a folder as -o): log discovery finds them
    elsewhere = tmp_path / "scheduler-chose-this.out"
    asked: list[tuple[str, str]] = []

    class Discovery:
        @psu.hookimpl
        def paraschut_log_paths(self, executor, job, cluster_id):
            if executor.name != "fake":
                return None
            asked.append((job.stdout, cluster_id))
            return psu.LogPaths(str(elsewhere), None)

    env.manager.pm.register(Discovery(), name="discovery")
    psu.add_batch_to_queue(1, [job(0)])
    psu.submit_jobs(Executor="fake")
    (row,) = get_session().index.query("SELECT stdout, stderr, ClusterID FROM log_history WHERE BatchID=1")
    os.unlink(row["stdout"])
    os.unlink(row["stderr"])
    psu.set_job_field(1, 0, Field="state", Value="run")  # it started and wrote its logs elsewhere
    elsewhere.write_text("found it\n")
    assert psu.print_log(1, 0, Verbose=False) == "found it"
    assert asked == [(row["stdout"], row["ClusterID"])]
    with pytest.raises(psu.ParaschutError, match="does not exist"):
        psu.print_log(1, 0, "stderr")  # the plugin does not know: the recorded path is named


# -- submitting one job / one batch ------------------------------------------------------------------
def test_submit_one_job_ignores_priority_but_not_state(env) -> None:
    psu.add_batch_to_queue(1, [job(0, priority=5), job(1, priority=1), job(2, state="complete")])
    assert psu.submit_one_job(1, 1) == 1
    assert psu.submit_one_job(1, 1) == 0
    assert psu.submit_one_job(1, 2) == 0
    assert script_lines(env.script) == ["psu1_1"]
    with pytest.raises(psu.JobNotFoundError):
        psu.submit_one_job(1, 9)


def test_submit_one_batch_follows_the_batch_priorities(env) -> None:
    psu.add_batch_to_queue(1, [job(0, priority=2), job(1, priority=2), job(2, priority=1)])
    psu.add_batch_to_queue(2, [job(0)])
    assert psu.submit_one_batch(1) == 2
    assert script_lines(env.script) == ["psu1_0", "psu1_1"]
    with pytest.raises(psu.JobNotFoundError):
        psu.submit_one_batch(3)


def test_submit_one_batch_ignores_other_batches(env) -> None:
    psu.add_batch_to_queue(1, [job(0, priority=150)])
    psu.add_batch_to_queue(2, [job(0), job(1)])
    assert psu.submit_one_batch(2) == 2


def test_submit_jobs_with_an_unknown_executor_lists_the_known_ones(env) -> None:
    psu.add_batch_to_queue(1, [job(0)])
    before = dump(env.db)
    with pytest.raises(psu.UnknownExecutorError) as error:
        psu.submit_jobs(Executor="nosuch")
    assert {"file", "fake", "broken"} <= set(error.value.known)
    assert "file" in str(error.value)
    assert dump(env.db) == before


def test_a_refused_submission_returns_the_rest_to_init(env) -> None:
    psu.add_batch_to_queue(1, [job(0), job(1, script=""), job(2)])
    with pytest.raises(psu.InvalidJobError):
        psu.submit_jobs()
    got = psu.get_queue(Verbose=False)[1]
    assert [j["state"] for j in got] == ["submit", "init", "submit"]
    assert "script" in got[1]["submit_error"]
    assert script_lines(env.script) == ["psu1_0", "psu1_2"]


def test_periodic_submitter_stops_when_nothing_is_left(env, capsys: pytest.CaptureFixture[str]) -> None:
    psu.add_batch_to_queue(1, [job(0, state="complete")])
    psu.periodic_submitter(Interval=0, MaxIterations=5)
    psu.add_batch_to_queue(2, [job(0)])
    psu.periodic_submitter(Interval=0, MaxIterations=2)
    assert "submitted 1 job" in capsys.readouterr().out
    assert script_lines(env.script) == ["psu2_0"]


def test_qdel_of_a_spawning_job_frees_its_slots(env) -> None:
    psu.add_batch_to_queue(1, [job(0, priority=5)])
    psu.add_batch_to_queue(2, [job(i) for i in range(5)])
    psu.submit_jobs(Filter="BatchID = 1")
    psu.spawn_submit(psu.get_job_info(1, 0), 3)
    assert psu.qdel_job(1, 0) == 1
    assert psu.get_job_info(1, 0)["state"] == "init"
    assert psu.submit_jobs(MaxJobs=3, Filter="BatchID = 2") == 3


@pytest.mark.parametrize(("field", "value"), [("priority", "high"), ("priority", None), ("vars", ["A"]), ("name", 5)])
def test_set_job_field_checks_field_types(env, field: str, value: object) -> None:
    psu.add_batch_to_queue(1, [job(0)])
    before = dump(env.db)
    with pytest.raises(psu.InvalidJobError):
        psu.set_job_field(1, 0, Field=field, Value=value)
    assert dump(env.db) == before


@pytest.mark.parametrize(
    "field",
    [
        pytest.param(
            'say "hi"',
        ),
        "a.b",
        "x[0]",
        "$",
        "it's",
        "é",
    ],
)
def test_set_job_field_stores_any_field_name(env, field: str) -> None:
    psu.add_batch_to_queue(1, [job(0, keep=1)])
    assert psu.set_job_field(1, 0, Field=field, Value=[1, "two"]) == 1
    got = psu.get_job_info(1, 0)
    assert got[field] == [1, "two"] and got["keep"] == 1


def test_remove_batch_works_after_its_executor_was_uninstalled(env) -> None:
    psu.add_batch_to_queue(1, [job(0)])
    psu.submit_jobs()
    with psu.locked_job(1, 0) as j:
        j["executor"] = "gone"
    with pytest.warns(RuntimeWarning, match="could not cancel jobs on 'gone'"):
        assert psu.remove_batch(1) == 1
    assert psu.get_queue(Verbose=False) == {}
