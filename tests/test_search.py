"""Optuna search (hydra/sweeper=optuna): the objective each trial returns, diverged and failed
trials as the sampler sees them, and a few real trials end to end."""

import math

import pytest
from conftest import TINY, run_cli

from rnnbench.search import objective_value, with_sweeper_defaults


def test_objective_of_completed_diverged_and_unsolved_runs():
    done = {"status": "completed", "final_eval_loss": 0.25, "steps_to_solve": 300}
    assert objective_value(done, "final_eval_loss") == 0.25
    assert objective_value(done, "steps_to_solve") == 300.0
    assert objective_value({**done, "steps_to_solve": None}, "steps_to_solve") == math.inf
    assert objective_value({**done, "status": "diverged"}, "final_eval_loss") == math.inf
    with pytest.raises(ValueError, match="objective must be one of final_eval_loss"):
        objective_value(done, "accuracy")


def test_optuna_command_lines_get_a_failure_rate_that_keeps_the_sweep_going():
    argv = ["-m", "hydra/sweeper=optuna", "optim.lr=interval(1e-3,1e-1)"]
    assert with_sweeper_defaults(argv) == [*argv, "hydra.sweeper.max_failure_rate=1.0"]
    own = [*argv, "hydra.sweeper.max_failure_rate=0.5"]
    assert with_sweeper_defaults(own) == own
    assert with_sweeper_defaults(["-m", "seed=0,1"]) == ["-m", "seed=0,1"]


def _optuna_sweep(tmp_path, *overrides: str, study: str = "t") -> list[str]:
    """The command line of a tiny Optuna sweep into tmp_path/sweep, its study `study` stored in
    tmp_path/study.db; `overrides` choose the sampler, trials and search space (a hidden size
    among them replaces TINY's)."""
    own = {o.split("=")[0] for o in overrides}
    return [
        "-m",
        "hydra/sweeper=optuna",
        f"hydra.sweeper.study_name={study}",
        f"hydra.sweeper.storage=sqlite:///{tmp_path / 'study.db'}",
        *overrides,
        f"hydra.sweep.dir={tmp_path / 'sweep'}",
        *[a for a in TINY if a.split("=")[0] not in own],
    ]


def _study(tmp_path, name: str = "t"):
    optuna = pytest.importorskip("optuna")
    return optuna.load_study(study_name=name, storage=f"sqlite:///{tmp_path / 'study.db'}")


@pytest.mark.slow
def test_trials_report_completed_diverged_and_failed_runs_to_optuna(tmp_path):
    """Grid over a divergence threshold (1e-9: every step diverges) and a hidden size (0 is
    invalid: the trial fails), 4 trials of the 6 grid points (an exhausted grid: the test
    below): the sweep ends normally and Optuna saw each trial as what it was: a failure for
    hidden size 0, inf for a diverged run, the final eval loss (the best value) for a completed
    one."""
    pytest.importorskip("hydra_plugins.hydra_optuna_sweeper")
    args = _optuna_sweep(
        tmp_path,
        "hydra/sweeper/sampler=grid",
        "hydra.sweeper.n_trials=4",
        "hydra.sweeper.n_jobs=1",
        "train.diverge_grad_norm=choice(1e-9,1000.0)",
        "model.hidden_size=choice(0,8,9)",
    )
    proc = run_cli(args, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    trials = _study(tmp_path).trials
    assert len(trials) == 4
    finite = []
    for t in trials:
        hidden = int(t.params["model.hidden_size"])
        threshold = float(t.params["train.diverge_grad_norm"])
        if hidden == 0:
            assert t.state.name == "FAIL"
        elif threshold < 1:
            assert t.state.name == "COMPLETE" and t.value == math.inf
        else:
            assert t.state.name == "COMPLETE" and math.isfinite(t.value)
            finite.append(t.value)
    if finite:
        best = (tmp_path / "sweep" / "optimization_results.yaml").read_text()
        assert f"best_value: {min(finite)}" in best


@pytest.mark.slow
def test_tpe_search_runs_out_of_the_box(tmp_path):
    """hydra/sweeper=optuna alone, an lr interval: three trials, the best is the smallest loss."""
    pytest.importorskip("hydra_plugins.hydra_optuna_sweeper")
    args = _optuna_sweep(
        tmp_path, "hydra.sweeper.n_trials=3", "optim.lr=tag(log,interval(1e-3,1e-1))"
    )
    proc = run_cli(args, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    trials = _study(tmp_path).trials
    assert [t.state.name for t in trials] == ["COMPLETE"] * 3
    assert len({t.params["optim.lr"] for t in trials}) == 3
    best = min(t.value for t in trials)
    assert f"best_value: {best}" in (tmp_path / "sweep" / "optimization_results.yaml").read_text()


def test_optunas_messages_are_the_ones_tolerated(tmp_path):
    """`tolerate_grid_exhaustion` matches Optuna's texts: if Optuna rewords them, this fails."""
    optuna = pytest.importorskip("optuna")
    from rnnbench.search import NO_TRIAL, STOP_OUTSIDE_OPTIMIZE

    in_memory = optuna.create_study()
    with pytest.raises(RuntimeError, match=STOP_OUTSIDE_OPTIMIZE.replace("`", ".")):
        in_memory.stop()
    database = optuna.create_study(storage=f"sqlite:///{tmp_path / 'db'}")
    for study, text in zip((in_memory, database), NO_TRIAL, strict=True):
        with pytest.raises(ValueError, match=text):
            study.best_trial


@pytest.mark.slow
def test_grid_search_whose_last_point_fails_ends_normally(tmp_path):
    """Optuna 2.10's GridSampler calls Study.stop when its grid is exhausted; after a failed
    trial that escaped the plugin as a RuntimeError traceback. A one-point grid makes the
    failing trial (hidden size 0) the last, and the only one: the sweep ends with one line
    (exit 1) saying no trial completed, not Optuna's "Record does not exist" traceback."""
    pytest.importorskip("hydra_plugins.hydra_optuna_sweeper")
    grid = ("hydra/sweeper/sampler=grid", "hydra.sweeper.n_trials=1", "model.hidden_size=choice(0)")
    proc = run_cli(_optuna_sweep(tmp_path, *grid), cwd=tmp_path)
    assert proc.returncode == 1, proc.stderr[-3000:]
    assert "Traceback" not in proc.stderr
    last = proc.stderr.strip().splitlines()[-1]
    assert last.startswith("rnnbench: error: no trial of the Optuna sweep completed"), last
    assert [t.state.name for t in _study(tmp_path).trials] == ["FAIL"]
    grid = ("hydra/sweeper/sampler=grid", "hydra.sweeper.n_trials=2")
    args = _optuna_sweep(tmp_path, *grid, "model.hidden_size=choice(0,8)", study="t2")
    proc = run_cli(args, cwd=tmp_path)  # the failing point first or last: either way, exit 0
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "Traceback" not in proc.stderr


def test_preflight_names_the_sweeper_a_configs_defaults_choose():
    """cli.main installs `tolerate_grid_exhaustion` from what preflight returns: an experiment
    that selects Optuna in its defaults (no hydra/sweeper=optuna on the command line) counts.
    The README's command itself passes: its trials' directories are named by the parameters
    Optuna adds, so the one job preflight sees resolves to the sweep directory (it was refused
    as "hydra.sweep.subdir must stay inside hydra.sweep.dir")."""
    pytest.importorskip("hydra_plugins.hydra_optuna_sweeper")
    from rnnbench._hydra_preflight import preflight
    from rnnbench.search import OPTUNA_TARGET

    assert preflight(["-m", "+experiment=search_rnn_lr"]) == OPTUNA_TARGET
    assert preflight(["-m", "seed=0,1"]) != OPTUNA_TARGET
    assert preflight(["--help"]) is None
