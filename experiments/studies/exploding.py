"""Study exploding: gradient growth, divergence and clipping in a tanh RNN (Pascanu et al. 2013).

Criteria (computed from runs.csv, gradient_rates.csv and gradient_training.csv):
- "rho > 1 is necessary for exploding gradients": the fitted per-step factor of ||dL/dh_t||
  at the first step is below 1 for every run with rho <= 1 and above 1 for every run with rho > 1;
- "an exploding gradient throws SGD off": without clipping, every run with rho > 1 diverges
  and none with rho <= 1 does;
- "clipping lets the same model train": no clipped run diverges, and at some rho > 1 every
  clipped seed learns (final MSE < LEARNED x baseline);
- "clipping does not cure vanishing gradients": at the smallest rho the clipped runs' fitted
  factor is still below 1 at the last step, and their mean final loss is not below 0.9 x the
  unclipped runs' (clipping brought no gain).
The study reproduces qualitatively if all four hold, in part if some do.
"""

from __future__ import annotations

import math

import pandas as pd

from .common import Study, agreement, md_table
from .exploding_figure import draw

LEARNED = 0.6  # final MSE < 0.6 x baseline (0.1 on adding): clearly learned


def _gradients(study: Study, stem: str):
    t = study.table(stem)
    return t.merge(
        study.runs[["run", "seed", "status", "clip.method", "model.spectral_radius"]], on="run"
    )


def _outcome(r) -> str:
    if r.status == "diverged":
        return f"diverged @ {int(r.diverged_step)}"
    return f"{r.final_eval_loss:.3g}" if r.status == "completed" else str(r.status)


def _row(study: Study, rho: float, train, rates) -> dict:
    row = {"rho": rho}
    for clip in ("none", "norm"):
        s = study.runs[
            (study.runs["model.spectral_radius"] == rho) & (study.runs["clip.method"] == clip)
        ]
        s = s.sort_values("seed")
        row[f"clip {clip}: outcome"] = " / ".join(_outcome(r) for r in s.itertuples())
        g = train[train["run"].isin(s["run"])]
        first = g[g["step"] == g.groupby("run")["step"].transform("min")].set_index("run")
        top = (
            g.groupby("run")[["grad_norm_before_clip", "grad_norm_before_clip_max"]]
            .max()
            .max(axis=1)
        )
        if clip == "none":
            row["grad norm at step 1"] = " / ".join(
                f"{first['grad_norm_before_clip'].get(r, math.nan):.2g}" for r in s["run"]
            )
        row[f"clip {clip}: largest grad norm"] = " / ".join(
            f"{top.get(r, math.nan):.2g}" for r in s["run"]
        )
    rr = rates[(rates["model.spectral_radius"] == rho) & (rates["clip.method"] == "norm")]
    row["gradient factor per step, first step"] = rr[rr["step"] == rr["step"].min()][
        "fitted_rate_per_step"
    ].mean()
    row["... last step (clipped)"] = rr[rr["step"] == rr["step"].max()][
        "fitted_rate_per_step"
    ].mean()
    return row


def _rhos(values) -> str:
    return ", ".join(f"{x:g}" for x in sorted(set(values))) or "none"


def _claims(study: Study, rates) -> tuple[list[bool], dict]:
    r = study.runs
    rho, clip = r["model.spectral_radius"], r["clip.method"]
    div = r["status"] == "diverged"
    first = rates[rates["step"] == rates.groupby("run")["step"].transform("min")]
    f = first.set_index("run")["fitted_rate_per_step"].reindex(r["run"]).to_numpy()
    necessary = bool(((f < 1) == (rho <= 1).to_numpy()).all())
    throws = bool((div[clip == "none"] == (rho[clip == "none"] > 1)).all())
    learned = (r["final_eval_loss"] < LEARNED * r["baseline_loss"]) & (r["status"] == "completed")
    ok = learned[clip == "norm"].groupby(rho[clip == "norm"]).all()
    learns_at = [x for x, v in ok.items() if v and x > 1]
    trains = not div[clip == "norm"].any() and bool(learns_at)
    low = r[rho == rho.min()].groupby("clip.method")["final_eval_loss"].mean()
    last = rates[(rates["model.spectral_radius"] == rho.min()) & (rates["clip.method"] == "norm")]
    last = last[last["step"] == last["step"].max()]["fitted_rate_per_step"]
    same = bool((last < 1).all()) and bool(low["norm"] >= 0.9 * low["none"])
    words = {
        "div_none": _rhos(rho[(clip == "none") & div]),
        "div_norm": _rhos(rho[(clip == "norm") & div]),
        "learns_at": _rhos(learns_at),
        "rho_min": f"{rho.min():g}",
        "low_loss": f"{low['none']:.3g} / {low['norm']:.3g}",
        "low_factor": " / ".join(f"{v:.3g}" for v in last),
        "first_div": int(r.loc[(clip == "none") & div, "diverged_step"].max()) if div.any() else 0,
    }
    return [necessary, throws, trains, same], words


def facts(study: Study) -> dict:
    rates, train = _gradients(study, "gradient_rates"), _gradients(study, "gradient_training")
    rhos = sorted(study.runs["model.spectral_radius"].unique())
    table = pd.DataFrame([_row(study, rho, train, rates) for rho in rhos])
    study.tables["table"] = table
    draw(study, _gradients(study, "gradient_profile"))
    holds, words = _claims(study, rates)
    return {
        "table": md_table(table, digits=3, missing="-"),
        "learned": f"{LEARNED:g}",
        **{f"claim{i}": agreement(h) for i, h in enumerate(holds, 1)},
        "verdict": "reproduces qualitatively"
        if all(holds)
        else f"reproduces in part ({sum(holds)} of {len(holds)} findings)"
        if any(holds)
        else "does not reproduce",
        **words,
    }
