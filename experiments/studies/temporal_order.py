"""Study temporal_order: which cells solve the temporal order problem (experiment 6a).

Criteria (computed from runs.csv and learning_curves.csv):
- *solved at T*: every seed met the task's criterion (accuracy >= 0.99) at its final evaluation;
- *time to learn*: the learning curves hold the loss only, so the time is read off them as the
  first evaluation with the eval loss below LEARNED x the memoryless loss ln 4, for the fastest
  seed and for every seed, in training sequences;
- Hochreiter & Schmidhuber's "an LSTM solves 6a in about 31k sequences" reproduces for an LSTM
  preset if it solves every seed at T = 100; the verdict names the presets for which it does.
"""

from __future__ import annotations

from rnnbench.tasks import TASKS

from .common import Study, agreement, first_below, kseq, md_table, per_model, per_seed

LEARNED = 0.1  # eval loss below 0.1 x ln 4: learned (read off the learning curves)
PUBLISHED_SEQS = 31_000  # the paper's LSTM at T = 100
LSTMS = ("lstm", "lstm chrono")


def _acc(r) -> str:
    if r.status != "completed":
        return str(r.status)
    return f"{r.final_eval_accuracy:.2f}{'*' if r.solved else ''}"


def _seqs(study: Study, model: str, T: int, every: bool) -> float:
    base = float(study.of(model, T)["baseline_loss"].iloc[0])
    return first_below(study, model, T, LEARNED * base, every)


def facts(study: Study) -> dict:
    batch = int(study.runs["train.batch_size"].iloc[0])
    acc = per_seed(study, _acc)
    need = per_model(
        study,
        lambda m, T: " / ".join(kseq(_seqs(study, m, T, e), batch) for e in (False, True)),
    )
    study.tables.update(table=acc, sequences_to_learn=need)

    def at100(model: str) -> str:
        g = study.of(model, 100)
        seqs = " / ".join(kseq(_seqs(study, model, 100, e), batch) for e in (False, True))
        return f"{int(g['solved'].sum())}/{len(g)} seeds solved, {seqs}"

    solving = [m for m in LSTMS if m in study.models and study.of(m, 100)["solved"].all()]
    if len(solving) == len(LSTMS):
        verdict = agreement(True)
    elif solving:
        verdict = f"reproduces only with `{'`, `'.join(solving)}`"
    else:
        verdict = agreement(False)
    every = {m: _seqs(study, m, 100, True) * batch for m in solving}
    faster = [m for m, s in every.items() if s < PUBLISHED_SEQS]
    solved_where = {
        m: [T for T in study.lengths if study.of(m, T)["solved"].all()] for m in study.models
    }
    where = "; ".join(
        f"`{m}` solves every seed at T = {', '.join(map(str, ts))}" if ts else f"`{m}` at no T"
        for m, ts in solved_where.items()
    )
    return {
        "acc_table": md_table(acc, missing="-"),
        "need_table": md_table(need, missing="-"),
        "threshold": f"{TASKS['temporal_order'].solve_threshold:g}",
        "learned": f"{LEARNED:g}",
        "eval_every": int(study.runs["train.eval_every"].iloc[0]),
        "eval_seqs": f"{int(study.runs['train.eval_every'].iloc[0]) * batch / 1000:.1f}k",
        "budget": kseq(float(study.runs["train.steps"].iloc[0]), batch),
        **{f"at100_{m.replace(' ', '_')}": at100(m) for m in study.models},
        "verdict": verdict,
        "solved_where": where,
        "faster": (
            f"`{'`, `'.join(faster)}` learned (every seed) in fewer sequences than the paper's 31k"
            if faster
            else "no preset learned in fewer sequences than the paper's 31k"
        ),
    }
