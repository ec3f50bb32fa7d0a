"""Study adding_length: up to which T each cell beats the memoryless MSE and solves the task.

Criteria (each verdict below is computed from runs.csv and learning_curves.csv):
- *beats the baseline at T*: every seed's final MSE < AT_BASELINE x baseline (0.9 x 1/6);
- *solved at T*: every seed met the task's criterion (MSE < 0.01) at its final evaluation;
- gated cells against the tanh RNN (Hochreiter & Schmidhuber 1997) reproduce if LSTM and GRU
  solve every T at which the tanh RNN does not beat the baseline, and there is such a T;
- IRNN against the tanh RNN (Le et al. 2015): *in direction* if the IRNN beats the baseline at
  a T where the tanh RNN does not; *in reach* if it also solves every seed there;
- the tanh RNN "near 0.07" at T = 100 reproduces if its mean final MSE is within a factor 2
  of 0.07 (it has learned one of the two numbers: MSE 1/12 = 0.083).
"""

from __future__ import annotations

from rnnbench.tasks import TASKS

from .common import (
    AT_BASELINE,
    NEVER,
    Study,
    agreement,
    final,
    first_below,
    kseq,
    md_table,
    per_seed,
    upto,
)

SOLVE = TASKS["adding"].solve_threshold
PARTIAL_MSE = 0.07  # the public reproduction's tanh RNN at T = 100
PUBLISHED_STEPS = 8000  # ... and its small LSTM's iterations to MSE < 0.001


def _compare(steps: float, published: float) -> str:
    if steps == NEVER:
        return "not reached here"
    return f"{'faster' if steps < published else 'slower'} than published (every seed)"


def _beats(study: Study, model: str) -> list[int]:
    return [
        T
        for T in study.lengths
        if len(g := study.of(model, T))
        and (g["final_eval_loss"] < AT_BASELINE * g["baseline_loss"]).all()
    ]


def _solves(study: Study, model: str) -> list[int]:
    return [T for T in study.lengths if len(g := study.of(model, T)) and g["solved"].all()]


def _seqs(study: Study, model: str, T: int, level: float = SOLVE) -> str:
    batch = int(study.runs["train.batch_size"].iloc[0])
    fast, every = (first_below(study, model, T, level, e) for e in (False, True))
    return f"{kseq(fast, batch)} / {kseq(every, batch)}"


def _steps(study: Study, model: str, T: int, level: float) -> str:
    fast, every = (first_below(study, model, T, level, e) for e in (False, True))
    return " / ".join("not within the budget" if s == NEVER else f"{s:.0f}" for s in (fast, every))


def _solved_where(study: Study, model: str) -> str:
    parts = [
        f"T = {T} ({int(g['solved'].sum())}/{len(g)} seeds)"
        for T in study.lengths
        if (g := study.of(model, T))["solved"].any()
    ]
    return ", ".join(parts) or "no length"


def facts(study: Study) -> dict:
    table = per_seed(study, final)
    beats = {m: _beats(study, m) for m in study.models}
    solves = {m: _solves(study, m) for m in study.models}
    table["beats 1/6 up to"] = [upto(beats[m], study.lengths) for m in study.models]
    table["solved up to"] = [upto(solves[m], study.lengths) for m in study.models]
    study.tables["table"] = table
    rnn, irnn = "rnn (tanh)", "irnn"
    rnn_fails = [T for T in study.lengths if T not in beats[rnn]]
    gated = bool(rnn_fails) and all(T in solves[m] for m in ("lstm", "gru") for T in rnn_fails)
    direction = any(T in beats[irnn] for T in rnn_fails)
    reach = bool(rnn_fails) and all(T in solves[irnn] for T in rnn_fails)
    rnn100 = study.of(rnn, 100)["final_eval_loss"]
    partial = bool(len(rnn100)) and 0.5 <= rnn100.mean() / PARTIAL_MSE <= 2
    verdicts = [
        f"- `{m}`: beats the baseline up to T = {upto(beats[m], study.lengths)}, "
        f"solves every seed up to T = {upto(solves[m], study.lengths)}."
        for m in study.models
    ]
    return {
        "table": md_table(table, missing="-"),
        "solve": f"{SOLVE:g}",
        "at_baseline": f"{AT_BASELINE:g}",
        "lstm100": _seqs(study, "lstm", 100),
        "lstm200": _seqs(study, "lstm", 200),
        "lstm100_001": _steps(study, "lstm", 100, 0.001),
        "rnn100": " / ".join(f"{v:.3g}" for v in rnn100),
        "irnn_beats": upto(beats[irnn], study.lengths),
        "irnn_solves": _solved_where(study, irnn),
        "rnn_beats": upto(beats[rnn], study.lengths),
        "rnn_solves": _solved_where(study, rnn),
        "rnn_fails": ", ".join(map(str, rnn_fails)) or "none",
        "verdicts": "\n".join(verdicts),
        "gated_verdict": agreement(gated),
        "irnn_verdict": agreement(direction and reach, direction),
        "irnn_reach": " (in direction, not in reach)" if direction and not reach else "",
        "lstm001_compare": _compare(first_below(study, "lstm", 100, 0.001, True), PUBLISHED_STEPS),
        "partial_verdict": agreement(partial),
    }
