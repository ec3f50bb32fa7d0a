"""Study vanishing: how ||dL/dh_t|| falls off with T - t, at initialisation and after training.

Criteria (computed from runs.csv and gradient_rates.csv; *factor*: the fitted per-step factor of
||dL/dh_t|| going back from the loss):
- linear theory for the tanh RNN at initialisation (Bengio et al. 1994): the factor is within
  THEORY_TOL of rho(W_hh) on every seed;
- *vanishing*: a factor below FLAT; *flat*: a factor of at least FLAT (over T = 100 steps a
  factor of 0.95 leaves 0.6 % of the gradient, 0.627 leaves 1e-20);
- chrono LSTM (Tallec & Ollivier 2018): flat from the first step and solved on every seed.
"""

from __future__ import annotations

from .common import Study, final, md_table, per_seed

THEORY_TOL = 0.10
FLAT = 0.95
PRESETS = {"rnn": "rnn (tanh)", "lstm": "lstm", "chrono": "lstm chrono", "gru": "gru"}
WHEN = ("init", "trained")


def _rates(study: Study):
    """gradient_rates.csv with the study's preset per row; `when` = init (first profiled step)
    or trained (last). Tables written before the `run` column named the run directory carry the
    job's overrides joined by ", " instead; both are read."""
    r = study.table("gradient_rates")
    runs = set(study.runs["run"])
    if not r["run"].isin(runs).all():
        r["run"] = r["run"].str.replace(", ", ",", regex=False)
    if not r["run"].isin(runs).all():
        raise SystemExit("gradient_rates.csv names runs that are not in runs.csv")
    r = r.merge(study.runs[["run", "model", "seed", "solved"]], on="run")
    r["when"] = (
        r["step"]
        .eq(r.groupby("run")["step"].transform("min"))
        .map({True: "init", False: "trained"})
    )
    r["dh_1 / dh_T"] = r["norm_at_start"] / r["norm_at_loss"]
    return r


def _factor(r, model: str, when: str) -> str:
    v = r[(r["model"] == model) & (r["when"] == when)].sort_values("seed")["fitted_rate_per_step"]
    return " / ".join(f"{x:.3g}" for x in v)


def _state(r, model: str, when: str) -> str:
    v = r[(r["model"] == model) & (r["when"] == when)]["fitted_rate_per_step"]
    return "flat" if (v >= FLAT).all() else "vanishing" if (v < FLAT).all() else "mixed"


def facts(study: Study) -> dict:
    r = _rates(study)
    keep = ["model", "seed", "when", "step", "fitted_rate_per_step", "jacobian_rate_per_step",
            "spectral_radius", "dh_1 / dh_T"]  # fmt: skip
    table = r[keep].sort_values(["model", "seed", "step"])
    study.tables["table"] = table
    rnn0 = r[(r["model"] == "rnn (tanh)") & (r["when"] == "init")]
    dev = float((rnn0["fitted_rate_per_step"] / rnn0["spectral_radius"] - 1).abs().max())
    rnn1 = r[(r["model"] == "rnn (tanh)") & (r["when"] == "trained")]
    solved = {m: study.of(m)["solved"] for m in study.models}
    state = {(m, w): _state(r, m, w) for m in study.models for w in WHEN}
    return {
        "rates_table": md_table(table, digits=3, missing="-"),
        "finals_table": md_table(per_seed(study, final), missing="-"),
        "flat": f"{FLAT:g}",
        "tol": f"{THEORY_TOL:.0%}",
        "rnn_dev": f"{dev:.0%}",
        "rnn_theory": "agrees" if dev <= THEORY_TOL else "does not agree",
        "rnn_dh1": " / ".join(f"{v:.1g}" for v in rnn0.sort_values("seed")["dh_1 / dh_T"]),
        "rnn_rho_trained": " / ".join(
            f"{v:.3g}" for v in rnn1.sort_values("seed")["spectral_radius"]
        ),
        **{f"{k}_{w}": _factor(r, m, w) for k, m in PRESETS.items() for w in WHEN},
        **{f"{k}_{w}_state": state[m, w] for k, m in PRESETS.items() for w in WHEN},
        **{f"{k}_solved": f"{int(solved[m].sum())}/{len(solved[m])}" for k, m in PRESETS.items()},
        "chrono_verdict": "agrees"
        if state["lstm chrono", "init"] == "flat" and solved["lstm chrono"].all()
        else "does not agree",
    }
