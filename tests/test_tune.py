"""The tune stage: Optuna studies on disk that resume to the same choice, and the settings training reads."""

from __future__ import annotations

import json
import signal
import socket
import subprocess
import threading
import time

import optuna
import pytest
from optuna.distributions import FloatDistribution, IntDistribution
from optuna.storages.journal._storage import JournalOperation  # the journal's op codes; no public name

from genbench.errors import DataError
from genbench.tune import study

SPACE = {"x": FloatDistribution(-4.0, 4.0), "n": IntDistribution(1, 9)}


def bowl(trial) -> float:
    return -((trial.params["x"] - 1.3) ** 2) - 0.1 * (trial.params["n"] - 6) ** 2


def history(trials) -> list[tuple]:
    return [(t.params, t.value) for t in trials]


def test_a_study_killed_in_a_trial_resumes_to_the_same_trials(tmp_path):
    whole = study.optimise(tmp_path / "whole.journal", "bowl", "maximize", SPACE, 14, 7, bowl)

    calls = 0

    def dies_in_the_sixth_trial(trial) -> float:
        nonlocal calls
        calls += 1
        if calls == 6:
            raise KeyboardInterrupt  # the trial stays RUNNING in the journal, as after a kill
        return bowl(trial)

    journal = tmp_path / "killed.journal"
    with pytest.raises(KeyboardInterrupt):
        study.optimise(journal, "bowl", "maximize", SPACE, 14, 7, dies_in_the_sixth_trial)
    resumed = study.optimise(journal, "bowl", "maximize", SPACE, 14, 7, bowl)
    assert history(resumed) == history(whole)
    assert len({json.dumps(p, sort_keys=True) for p, _ in history(whole)}) == 14, "the trials differ"


class Killed(BaseException):
    pass


def killed_at_the_fourth_call(monkeypatch, owner, name: str, journal) -> None:
    """Runs a study that is killed at the fourth call of owner.name, as a kill would stop it in that moment."""
    original, calls = getattr(owner, name), 0

    def fourth_kills(*args, **kwargs):
        nonlocal calls
        calls += 1
        if calls == 4:
            raise Killed
        return original(*args, **kwargs)

    monkeypatch.setattr(owner, name, fourth_kills)
    with pytest.raises(Killed):
        study.optimise(journal, "bowl", "maximize", SPACE, 8, 7, bowl)
    monkeypatch.undo()


def test_a_study_killed_between_a_trials_time_and_its_value_draws_that_trial_again(tmp_path, monkeypatch):
    whole = study.optimise(tmp_path / "whole.journal", "bowl", "maximize", SPACE, 8, 7, bowl)
    journal = tmp_path / "killed.journal"
    killed_at_the_fourth_call(monkeypatch, optuna.Study, "tell", journal)  # the trial keeps its time, still RUNNING
    resumed = study.optimise(journal, "bowl", "maximize", SPACE, 8, 7, bowl)
    assert history(resumed) == history(whole)


def test_a_study_killed_as_it_asks_for_a_trial_draws_that_trial_again(tmp_path, monkeypatch):
    whole = study.optimise(tmp_path / "whole.journal", "bowl", "maximize", SPACE, 8, 7, bowl)
    journal = tmp_path / "killed.journal"
    killed_at_the_fourth_call(monkeypatch, optuna.Trial, "__init__", journal)  # the trial is written, nothing else
    created = [op for op in operations(journal) if op["op_code"] == JournalOperation.CREATE_TRIAL]
    assert len(created) == 4 and all("worker" in op.get("user_attrs", {}) for op in created), "each trial made marked"
    resumed = study.optimise(journal, "bowl", "maximize", SPACE, 8, 7, bowl)
    assert history(resumed) == history(whole)


def test_raising_the_budget_continues_the_study(tmp_path):
    whole = study.optimise(tmp_path / "whole.journal", "bowl", "maximize", SPACE, 12, 3, bowl)
    journal = tmp_path / "grown.journal"
    first = study.optimise(journal, "bowl", "maximize", SPACE, 5, 3, bowl)
    calls = []
    grown = study.optimise(journal, "bowl", "maximize", SPACE, 12, 3, lambda t: calls.append(1) or bowl(t))
    assert history(first) == history(whole)[:5] and history(grown) == history(whole)
    assert len(calls) == 7, "the five trials already run are not run again"


def test_the_seed_and_the_study_name_separate_searches(tmp_path):
    journal = tmp_path / "studies.journal"
    one = study.optimise(journal, "a", "maximize", SPACE, 4, 0, bowl)
    other_seed = study.optimise(tmp_path / "other.journal", "a", "maximize", SPACE, 4, 1, bowl)
    other_name = study.optimise(journal, "b", "maximize", SPACE, 4, 0, bowl)
    assert history(one) != history(other_seed)
    assert history(other_name) == history(one), "a new search starts its own study in the same journal"
    assert study.study_name("svm", {"C": 1}) != study.study_name("svm", {"C": 2})


def test_a_file_that_is_not_a_journal_is_refused_and_kept(tmp_path):
    journal = tmp_path / "svm.journal"
    journal.write_text("not a journal\n")
    with pytest.raises(DataError, match=r"svm\.journal: not an Optuna journal .*move it away"):
        study.optimise(journal, "a", "maximize", SPACE, 2, 0, bowl)
    assert journal.read_text() == "not a journal\n"


def finished_trials(journal) -> int:
    storage = optuna.storages.JournalStorage(optuna.storages.journal.JournalFileBackend(str(journal)))
    return sum(
        "seconds" in t.user_attrs
        for s in storage.get_all_studies()
        for t in storage.get_all_trials(s._study_id, deepcopy=False)
    )


def tune_workspace(workspace, trials: int):
    workspace.edit("params.yaml", "  trials: 3 ", f"  trials: {trials} ")
    workspace.run("genbench", "download", "--dataset", "digits")
    workspace.run("genbench", "preprocess", "--dataset", "digits")
    return workspace


def test_a_tune_killed_halfway_chooses_what_an_uninterrupted_one_does(workspace, tmp_path):
    """SIGKILL of the real stage while it runs (between or inside a trial), then the stage again."""
    ws = tune_workspace(workspace, 25)  # long enough to be caught running on a loaded machine
    command = ("genbench", "tune", "--dataset", "digits", "--model", "logreg")
    ws.run(*command)
    whole = json.loads(ws.path("reports/tuning/digits/logreg.json").read_text())
    journal = ws.path("data/studies/digits/logreg.journal")
    journal.rename(tmp_path / "whole.journal")

    process = subprocess.Popen(command, cwd=ws.root, env=ws.env, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 120
    while process.poll() is None and time.monotonic() < deadline:
        if journal.exists() and finished_trials(journal) >= 3:
            process.send_signal(signal.SIGKILL)
            break
        time.sleep(0.05)
    assert process.wait() == -signal.SIGKILL, "the tune was still running when it was killed"
    assert 3 <= finished_trials(journal) < 25
    ws.run(*command)
    resumed = json.loads(ws.path("reports/tuning/digits/logreg.json").read_text())
    strip = lambda record: [(t["params"], t["value"]) for t in record["trials"]]  # noqa: E731
    assert strip(resumed) == strip(whole) and resumed["chosen"] == whole["chosen"]
    chosen = json.loads(ws.path("data/tuned/digits/logreg.json").read_text())["settings"]
    assert chosen == {"max_iter": 300} | whole["chosen"], "the file training reads: the params with the choice"


def test_without_a_budget_training_reads_the_params_as_given(workspace):
    ws = tune_workspace(workspace, 0)
    ws.run("genbench", "tune", "--dataset", "digits", "--model", "svm")
    tuned = json.loads(ws.path("data/tuned/digits/svm.json").read_text())
    record = json.loads(ws.path("reports/tuning/digits/svm.json").read_text())
    assert tuned == {
        "model": "svm",
        "settings": {"C": 10.0, "kernel": "rbf", "gamma": "scale", "max_train_samples": 20000},
        "fit_on": ["train", "val"],
    }
    assert record["trials"] == [] and record["given_value"] is None
    assert not ws.path("data/studies").exists()


def test_refit_trains_on_the_training_and_validation_splits_and_nothing_else_does(workspace):
    ws = tune_workspace(workspace, 0)
    meta = json.loads(ws.path("data/processed/digits/meta.json").read_text())
    fitted = {}
    for refit in ("true", "false"):
        if refit == "false":
            ws.edit("params.yaml", "  refit: true ", "  refit: false ")
        ws.run("genbench", "tune", "--dataset", "digits", "--model", "logreg")
        ws.run("genbench", "train", "--dataset", "digits", "--model", "logreg", "--seed", "0")
        fitted[refit] = json.loads(ws.path("data/models/digits/seed-0/logreg/train.json").read_text())["n_train"]
    assert fitted == {"true": meta["sizes"]["train"] + meta["sizes"]["val"], "false": meta["sizes"]["train"]}


def generative_tune_workspace(workspace, trials: int, model: str, space: str, steps: tuple[str, str]):
    """tiny.yaml with `space` for the generative `model` (its steps edited from steps[0] to steps[1]), and the
    feature space its tune judges in."""
    ws = tune_workspace(workspace, trials)
    ws.edit("params.yaml", "    featurenet:\n", f"    {model}:\n      {space}\n    featurenet:\n")
    ws.edit("params.yaml", *steps)
    ws.run("genbench", "tune", "--dataset", "digits", "--model", "featurenet")
    ws.run("genbench", "train", "--dataset", "digits", "--model", "featurenet", "--seed", "0")
    return ws


def deep_tune_workspace(workspace, trials: int):
    space = "lr_generator: {low: 0.00001, high: 0.03, log: true}"
    ws = generative_tune_workspace(workspace, trials, "gan", space, ("    steps: 300\n", "    steps: 120\n"))
    ws.edit("params.yaml", "  prune_after: 5 ", "  prune_after: 2 ")
    ws.edit("params.yaml", "  checks: 3 ", "  checks: 2 ")
    return ws


def operations(journal) -> list[dict]:
    """The journal's operations but those creating a study (Optuna appends one each time a process opens it)."""
    return [
        op for op in map(json.loads, journal.read_text().splitlines()) if op["op_code"] != JournalOperation.CREATE_STUDY
    ]


@pytest.mark.minutes(1)
def test_a_deep_model_is_tuned_by_validation_fid_and_pruned_by_the_training_loops_checks(workspace):
    ws = deep_tune_workspace(workspace, 6)
    featurenet = json.loads(ws.path("reports/tuning/digits/featurenet.json").read_text())
    assert featurenet["objective"] == "validation accuracy" and len(featurenet["trials"]) == 6
    ws.run("genbench", "tune", "--dataset", "digits", "--model", "gan")
    record = json.loads(ws.path("reports/tuning/digits/gan.json").read_text())
    assert (record["objective"], record["direction"]) == ("validation FID", "minimize")
    trials = record["trials"]
    assert len(trials) == 6 and {t["state"] for t in trials} == {"complete", "pruned"}
    for t in trials:
        # Scored twice on the way (after 40 and 80 of 120 steps); a pruned trial stops at the check that pruned it.
        assert len(t["checks"]) == (2 if t["state"] == "complete" else len(t["checks"])) >= 1
        assert t["value"] == t["checks"][-1] if t["state"] == "pruned" else t["value"] > 0
    complete = [t for t in trials if t["state"] == "complete"]
    best = min(complete, key=lambda t: t["value"])
    assert record["best_value"] == min(best["value"], record["given_value"])
    journal = operations(ws.path("data/studies/digits/gan.journal"))
    ws.run("genbench", "tune", "--dataset", "digits", "--model", "gan")
    assert operations(ws.path("data/studies/digits/gan.journal")) == journal, "at its budget: nothing trained again"
    assert json.loads(ws.path("reports/tuning/digits/gan.json").read_text()) == record
    tuned = json.loads(ws.path("data/tuned/digits/gan.json").read_text())
    assert tuned["fit_on"] == ["train"], "the validation images are the floor: no deep model trains on them"
    assert tuned["settings"]["lr_generator"] == record["chosen"]["lr_generator"]
    ws.run("genbench", "train", "--dataset", "digits", "--model", "gan", "--seed", "0")
    assert ws.path("data/models/digits/seed-0/gan/weights.safetensors").exists()


def a_trial_left_running(journal, worker: dict) -> int:
    storage = optuna.storages.JournalStorage(optuna.storages.journal.JournalFileBackend(str(journal)))
    trial = optuna.create_study(storage=storage, study_name="bowl", direction="maximize").ask()
    trial.set_user_attr("worker", worker)
    return trial.number


def test_a_worker_waits_for_a_live_workers_trial_and_redraws_a_dead_ones(tmp_path):
    journal = tmp_path / "shared.journal"
    other = subprocess.Popen(["sleep", "60"])  # stands for another worker on this machine
    number = a_trial_left_running(journal, {"host": socket.gethostname(), "pid": other.pid, "job": None})
    result = {}
    worker = threading.Thread(
        target=lambda: result.update(trials=study.optimise(journal, "bowl", "maximize", SPACE, 5, 0, bowl))
    )
    worker.start()
    deadline = time.monotonic() + 60
    while finished_trials(journal) < 4 and time.monotonic() < deadline:
        time.sleep(0.05)
    time.sleep(3 * study.WAIT_SECONDS)
    assert worker.is_alive() and finished_trials(journal) == 4, "four trials of its own, then it waits"
    other.kill()
    other.wait()
    worker.join(timeout=60)
    assert not worker.is_alive()
    trials = result["trials"]
    assert len(trials) == 5 and number not in [t.number for t in trials], "the dead worker's trial drawn again"
    assert len({json.dumps(t.params, sort_keys=True) for t in trials}) == 5, "no two trials drew alike"


def test_a_trial_whose_worker_fell_silent_is_set_aside(tmp_path, monkeypatch):
    journal = tmp_path / "shared.journal"
    number = a_trial_left_running(journal, {"host": "another-node", "pid": 1, "job": "7"})
    monkeypatch.setattr(study, "STALE_SECONDS", 1.0)
    time.sleep(1.5)  # no heartbeat since it started
    trials = study.optimise(journal, "bowl", "maximize", SPACE, 3, 0, bowl)
    assert len(trials) == 3 and number not in [t.number for t in trials]


def test_a_trial_whose_loss_diverges_fails_and_the_tune_goes_on(workspace):
    space = "lr: {low: 0.001, high: 1.0e+30, log: true}"
    ws = generative_tune_workspace(workspace, 3, "vae", space, ("    steps: 600\n", "    steps: 30\n"))
    ws.run("genbench", "tune", "--dataset", "digits", "--model", "vae")
    record = json.loads(ws.path("reports/tuning/digits/vae.json").read_text())
    failed = [t for t in record["trials"] if t["state"] == "fail"]
    assert failed and all(t["value"] is None and t["params"]["lr"] > 1 for t in failed), record["trials"]
    complete = [t["value"] for t in record["trials"] if t["state"] == "complete"]
    assert record["best_value"] == min([*complete, record["given_value"]])
