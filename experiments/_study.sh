# Shared by the study scripts experiments/<study>.sh (issue 8); sourced, not run.
#
#   study_sweep STUDY [HYDRA OVERRIDES...]   the multirun +experiment=study_STUDY with the joblib
#                                            launcher into results/sweeps/STUDY, timed
#   study_diagnostics STUDY                  the gradient figures (-> results/STUDY)
#   study_report STUDY                       report (-> results/STUDY) and study README, which is
#                                            made from the tables in results/STUDY alone
#
# Timing: wall time from `date +%s`; CPU time (user + sys of the sweep and its joblib workers) from
# /usr/bin/time when it exists; both written to results/sweeps/STUDY/timing.json, and copied to
# results/STUDY/timing.json (committed) for the README.
# Re-running a study skips the jobs already completed (same resolved config): the README says how
# many jobs the timed invocation trained (a rerun that trains fewer keeps the earlier timing).
# Delete results/sweeps/STUDY for a fresh timing.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
PY="${PYTHON:-python}"

study_sweep() {
    local study="$1"; shift
    local sweep="results/sweeps/$study" t0 t1 cpu=""
    mkdir -p "$sweep"
    t0=$(date +%s)
    local load0
    load0=$(cut -d' ' -f1-3 /proc/loadavg 2>/dev/null || echo "")
    echo "[$study] sweep +experiment=study_$study into $sweep (started $(date -u +%FT%TZ))" >&2
    if [[ -x /usr/bin/time ]]; then
        /usr/bin/time -f '%U %S' -o "$sweep/.cputime" \
            "$PY" -m rnnbench -m "+experiment=study_$study" hydra/launcher=joblib "$@"
        cpu=$(awk '{printf "%.1f", $1 + $2}' "$sweep/.cputime")
    else
        "$PY" -m rnnbench -m "+experiment=study_$study" hydra/launcher=joblib "$@"
    fi
    t1=$(date +%s)
    local load1
    load1=$(cut -d' ' -f1-3 /proc/loadavg 2>/dev/null || echo "")
    local trained total
    trained=$(find "$sweep" -mindepth 2 -maxdepth 2 -name summary.json -newermt "@$t0" | wc -l)
    total=$(find "$sweep" -mindepth 2 -maxdepth 2 -name summary.json | wc -l)
    echo "[$study] sweep done in $((t1 - t0)) s wall, ${cpu:-?} s CPU; trained $trained of $total jobs" >&2
    local before=0
    if [[ -f "$sweep/timing.json" ]]; then
        before=$(sed -n 's/.*"jobs_trained": \([0-9]*\).*/\1/p' "$sweep/timing.json")
    fi
    if [[ "$trained" -lt "${before:-0}" ]]; then  # a rerun that only redid some jobs
        echo "[$study] keeping the timing of the invocation that trained $before jobs" >&2
        return 0
    fi
    printf '{"start": %s, "end": %s, "wall_s": %s, "cpu_s": %s, "cpus": %s, "jobs_trained": %s, "jobs_total": %s, "loadavg_start": "%s", "loadavg_end": "%s", "extra_overrides": "%s"}\n' \
        "$t0" "$t1" "$((t1 - t0))" "${cpu:-null}" "$(nproc)" "$trained" "$total" "$load0" "$load1" "$*" \
        >"$sweep/timing.json"
}

study_report() {
    local study="$1"
    "$PY" -m rnnbench.report "results/sweeps/$study" --out "results/$study"
    cp "results/sweeps/$study/timing.json" "results/$study/timing.json"
    "$PY" experiments/study_readme.py "$study"
    echo "[$study] wrote results/$study/README.md" >&2
}

study_diagnostics() {  # the gradient figures, drawn into the sweep directory, copied next to the report
    local study="$1" f
    "$PY" -m rnnbench.report gradients "results/sweeps/$study"
    mkdir -p "results/$study"
    for f in gradient_profile gradient_rates gradient_heatmap gradient_training; do
        cp "results/sweeps/$study/$f".* "results/$study/"
    done
}
