#!/usr/bin/env bash
# Wall time of one sweep with the sequential (basic) launcher and with hydra/launcher=joblib.
#
#   experiments/sweep_speed.sh [EXTRA HYDRA OVERRIDES...]
#
# Runs +experiment=cell_comparison (18 jobs, threads=1 each) twice into fresh temporary sweep
# directories, after an untimed warm-up that fills Numba's on-disk cache for the three cells, and
# prints the two wall times and the speed-up. Extra arguments go to both sweeps, e.g.
# `experiments/sweep_speed.sh train.steps=300` for a quicker check. Nothing is written into the
# repository; the temporary directories are removed at the end.
#
# Both sweeps run from a snapshot of the committed tree (git archive HEAD) with a private Numba
# cache, so kernels edited in the working tree meanwhile cannot invalidate the cache mid-run and
# charge recompilation to one launcher.
set -euo pipefail
cd "$(dirname "$0")/.."
PY="${PYTHON:-.venv/bin/python}"
[[ "$PY" = /* ]] || PY="$PWD/$PY"  # absolute, symlink kept (a venv's python is a symlink)
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
mkdir "$tmp/src"
git archive HEAD | tar -x -C "$tmp/src"
export NUMBA_CACHE_DIR="$tmp/numba_cache" PYTHONPATH="$tmp/src"
cd "$tmp/src"

sweep() {  # sweep NAME [OVERRIDES...] -> "wall_s cpu_s" on stdout (cpu: user+sys, all processes)
    local name="$1"; shift
    local TIMEFORMAT='%R %U %S'
    { time "$PY" -m rnnbench -m +experiment=cell_comparison "results_root=$tmp" "hydra.sweep.dir=$tmp/$name" "$@" \
        >"$tmp/$name.log" 2>&1; } 2>"$tmp/$name.time" \
        || { echo "sweep $name failed, see its log:" >&2; tail -20 "$tmp/$name.log" >&2; exit 1; }
    awk '{printf "%.1f %.1f\n", $1, $2 + $3}' "$tmp/$name.time"
}

sweep warmup task.seq_len=10 seed=0 train.steps=2 "$@" >/dev/null
load_before="$(cut -d' ' -f1-3 /proc/loadavg)"
read -r seq seq_cpu < <(sweep sequential "$@")
read -r par par_cpu < <(sweep joblib hydra/launcher=joblib "$@")
n=$(ls -d "$tmp"/joblib/*/summary.json 2>/dev/null | wc -l)
printf 'cpus %s, jobs per sweep %s, load average before: %s\n' "$(nproc)" "$n" "$load_before"
printf 'sequential (basic launcher): %6.1f s wall, %6.1f s cpu\n' "$seq" "$seq_cpu"
printf 'joblib (n_jobs=-1)         : %6.1f s wall, %6.1f s cpu\n' "$par" "$par_cpu"
printf 'speed-up                   : %6.2fx\n' "$("$PY" -c "print($seq / $par)")"
"$PY" - "$tmp" <<'PYEOF'
import json, sys
from pathlib import Path
for name in ("sequential", "joblib"):
    s = [json.loads(p.read_text()) for p in Path(sys.argv[1], name).glob("*/summary.json")]
    print(f"{name:11s}: sum of job wall times {sum(x['wall_time_s'] for x in s):6.1f} s")
PYEOF
printf 'load average after: %s (other processes on the machine slow the parallel sweep most)\n' \
    "$(cut -d' ' -f1-3 /proc/loadavg)"
