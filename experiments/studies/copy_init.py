"""Study copy_init: which LSTM initialisations leave the copy task's memoryless plateau.

Criteria (computed from runs.csv and learning_curves.csv):
- a run *leaves the baseline* at the first evaluation with loss < AT_BASELINE x baseline; per
  preset and T, E = that step for every seed (the band's maximum; never: not within the budget);
- the published order of the initialisations (Tallec & Ollivier 2018) reproduces if at every T
  E(PyTorch init) >= E(forget bias 1) >= E(chrono) and the chrono LSTM leaves at every T; in
  part if PyTorch's init is the last to leave at every T but the other two swap somewhere;
- "chrono solves copy" reproduces if the chrono LSTM solves every seed at the longest T
  (accuracy >= the task's threshold at the final evaluation).
"""

from __future__ import annotations

import math

from rnnbench.tasks import TASKS

from .common import AT_BASELINE, NEVER, Study, agreement, first_below, md_table, per_model, per_seed

INITS = ("lstm", "lstm forget bias 1", "lstm chrono")


def _ratio(r) -> str:
    if r.status != "completed":
        return str(r.status)
    return f"{r.final_eval_loss / r.baseline_loss:.2f} ({r.final_eval_accuracy:.2f})"


def _leaves(study: Study, model: str, T: int, every: bool) -> float:
    base = float(study.of(model, T)["baseline_loss"].iloc[0])
    return first_below(study, model, T, AT_BASELINE * base, every)


def _step(s: float) -> str:
    return "-" if s == NEVER else f"{s:.0f}"


def _at_longest(study: Study, model: str) -> str:
    g = study.of(model, max(study.lengths))
    if not len(g):
        return "-"
    ratio = g["final_eval_loss"] / g["baseline_loss"]
    n = int((ratio < AT_BASELINE).sum())
    what = {0: "stays on the baseline", len(g): "leaves the baseline"}.get(
        n, f"{n}/{len(g)} seeds leave the baseline"
    )
    return f"{what} ({' / '.join(f'{v:.2f}' for v in ratio)})"


def facts(study: Study) -> dict:
    table = per_seed(study, _ratio)
    steps = per_model(
        study,
        lambda m, T: f"{_step(_leaves(study, m, T, False))} / {_step(_leaves(study, m, T, True))}",
    )
    study.tables.update(table=table, left_baseline=steps)
    E = {(m, T): _leaves(study, m, T, True) for m in study.models for T in study.lengths}
    a, b, c = INITS
    if not all(m in study.models for m in INITS):
        raise SystemExit(f"copy_init needs the presets {', '.join(INITS)}")
    broken = [T for T in study.lengths if not E[a, T] >= E[b, T] >= E[c, T] < NEVER]
    pytorch_last = all(E[a, T] >= max(E[b, T], E[c, T]) and E[c, T] < NEVER for T in study.lengths)
    detail = "; ".join(
        f"at T = {T}: {_step(E[a, T])} / {_step(E[b, T])} / {_step(E[c, T])}" for T in broken
    )
    longest = max(study.lengths)
    chrono_solves = bool(study.of("lstm chrono", longest)["solved"].all())
    solved_any = study.runs[study.runs["solved"]]
    gru_first = "gru" in study.models and all(
        E["gru", T] <= min(E[m, T] for m in study.models) for T in study.lengths
    )
    base = {T: float(study.of(study.models[0], T)["baseline_loss"].iloc[0]) for T in study.lengths}
    return {
        "ratio_table": md_table(table, missing="-"),
        "steps_table": md_table(steps, missing="-"),
        "at_baseline": f"{AT_BASELINE:g}",
        "steps": int(study.runs["train.steps"].iloc[0]),
        "eval_every": int(study.runs["train.eval_every"].iloc[0]),
        "threshold": f"{TASKS['copy'].solve_threshold:g}",
        "chance": f"{1 / 8:.3f}",
        "baselines": ", ".join(f"T = {T}: {b:.3f}" for T, b in base.items()),
        "formula_check": f"{10 * math.log(8) / (longest + 20):.3f}",
        "longest": longest,
        "lstm_longest": _at_longest(study, "lstm"),
        "chrono_longest": _at_longest(study, "lstm chrono"),
        "fb1_longest": _at_longest(study, "lstm forget bias 1"),
        "gru_longest": _at_longest(study, "gru"),
        "order_verdict": agreement(not broken, pytorch_last),
        "order_detail": f" (violated {detail}, every seed: PyTorch / forget bias 1 / chrono)"
        if broken
        else "",
        "solve_verdict": agreement(chrono_solves),
        "n_solved": f"{len(solved_any)} of {len(study.runs)}",
        "gru_first": "leaves the plateau first (every seed) at every length"
        if gru_first
        else "does not leave the plateau first at every length",
    }
