"""Milestones of a run from its eval rows: steps to solve, steps below 0.9x and 0.1x baseline."""

from rnnbench.solve import milestone_keys, milestones, solved_now
from rnnbench.tasks import make_task


def _rows(losses, every=100, split="eval"):
    return [(i * every, split, "loss", v) for i, v in enumerate(losses)]


def test_first_steps_below_fractions_of_the_baseline_and_solved():
    task = make_task("adding", seq_len=10)  # baseline 1/6, solved: MSE < 0.01
    b = task.baseline_loss
    rows = _rows([b, 0.95 * b, 0.89 * b, 0.5 * b, 0.09 * b, 0.05, 0.009, 0.02])
    rows += [(250, "train", "loss", 0.0)]  # train rows never count
    got = milestones(rows, task)
    assert list(got) == milestone_keys()
    assert got == {
        "steps_to_solve": 600,
        "steps_below_90pct_baseline": 200,
        "steps_below_10pct_baseline": 400,
    }


def test_never_is_none_and_step_zero_counts():
    task = make_task("adding", seq_len=10)
    assert milestones(_rows([0.2, 0.18, 0.17]), task) == dict.fromkeys(milestone_keys())
    got = milestones(_rows([0.001, 0.2]), task)
    assert got["steps_to_solve"] == 0 and got["steps_below_10pct_baseline"] == 0


def test_accuracy_criterion_and_missing_metric():
    task = make_task("copy", seq_len=5)  # solved by accuracy, not by loss
    rows = [(0, "eval", "loss", 0.01), (100, "eval", "loss", 0.01)]
    assert milestones(rows, task)["steps_to_solve"] is None  # no accuracy row: not solved
    assert not solved_now(task, {"loss": 0.0})
    rows.append((100, "eval", task.solve_metric, 1.0))
    assert milestones(rows, task)["steps_to_solve"] == 100
