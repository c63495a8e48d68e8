#!/usr/bin/env bash
# Cross-subject estimate of the UTD-MHAD IMU settings: train on six subjects, test on the other two, for the
# pairs {1,2} {3,4} {5,6} {7,8}, 3 seeds each, two runs at a time; then a mean ± std table per setting.
#   experiments/utd_imu_cross_subject.sh UTD_ROOT RUNS [EXPERIMENT...]   (default: utd_stage1_imu_paper utd_stage1_imu)
# A run whose metrics.json exists is skipped, so the script resumes after an interruption.
set -euo pipefail
ROOT="${1:?usage: utd_imu_cross_subject.sh UTD_ROOT RUNS [EXPERIMENT...]}"
RUNS="${2:?usage: utd_imu_cross_subject.sh UTD_ROOT RUNS [EXPERIMENT...]}"
shift 2
if [ $# -gt 0 ]; then EXPERIMENTS=("$@"); else EXPERIMENTS=(utd_stage1_imu_paper utd_stage1_imu); fi
PYTHON="${PYTHON:-python}"
cd "$(dirname "$0")/.."
for exp in "${EXPERIMENTS[@]}"; do
    for pair in 1,2 3,4 5,6 7,8; do
        train=$(echo 1 2 3 4 5 6 7 8 | tr ' ' '\n' | grep -v -x -e "${pair%,*}" -e "${pair#*,}" | paste -sd, -)
        for seed in 0 1 2; do echo "$exp $pair $train $seed"; done
    done
done | xargs -P 2 -L 1 bash -c '
    exp=$0 pair=$1 train=$2 seed=$3 dir="'"$RUNS"'/$0/test_${1/,/_}/seed$3"
    [ -f "$dir/metrics.json" ] && exit 0
    mkdir -p "$(dirname "$dir")"
    OMP_NUM_THREADS=1 '"$PYTHON"' -m harlit.run "+experiment=$exp" "data.root='"$ROOT"'" \
        "data.train_subjects=[$train]" "data.test_subjects=[$pair]" "seed=$seed" \
        trainer.enable_progress_bar=false "hydra.run.dir=$dir" > "$dir.log" 2>&1 || echo "failed: $dir (log: $dir.log)"'
"$PYTHON" - "$RUNS" <<'PY'
import json, statistics, sys
from pathlib import Path
for exp in sorted(p.name for p in Path(sys.argv[1]).iterdir() if p.is_dir()):
    folds = {}
    for f in sorted(Path(sys.argv[1], exp).glob("test_*/seed*/metrics.json")):
        folds.setdefault(f.parent.parent.name, []).append(json.loads(f.read_text())["test/top1"] * 100)
    runs = [v for values in folds.values() for v in values]
    if len(runs) > 1:
        per_fold = " / ".join(f"{name[5:]}: {statistics.mean(v):.2f} (n={len(v)})" for name, v in sorted(folds.items()))
        print(f"{exp}: Top-1 {statistics.mean(runs):.2f} ± {statistics.stdev(runs):.2f} over {len(runs)} runs; {per_fold}")
PY
