#!/usr/bin/env bash
# Fourth utd_stage1_imu search: leave-one-odd-subject-out validation (the even test subjects are never
# loaded), every config on four folds x SEEDS, one config per process, JOBS at a time. Each config adds
# its options to the current setting (imu_length 96, rotation 15, 450 epochs = the final run's 900 steps).
#   experiments/utd_imu_search/run.sh DATA_ROOT OUT_DIR      (env: SEEDS=0,1,2,3,4,5 JOBS=16 PYTHON=python ONLY=name,name)
# Summary: python -m experiments.utd_imu_search.summarise OUT_DIR
set -euo pipefail
ROOT="${1:?usage: run.sh DATA_ROOT OUT_DIR}"
OUT="${2:?usage: run.sh DATA_ROOT OUT_DIR}"
SEEDS="${SEEDS:-0,1,2,3,4,5}"
JOBS="${JOBS:-16}"
PYTHON="${PYTHON:-python}"
mkdir -p "$OUT"
BASE="--root $ROOT --imu-length 96 --rotate 15 --epochs ${EPOCHS:-450} --every 150 --folds 1,3,5,7 --seeds $SEEDS"
CONFIGS=(
    "current|"
    "dropout0.3|--dropout 0.3"
    "head_dropout0.5|--head-dropout 0.5"
    "epochs900|--epochs 900 --every 300"
    "rotate10|--rotate 10"
    "rotate25|--rotate 25"
    "rotate35|--rotate 35"
    "length80|--imu-length 80"
    "length112|--imu-length 112"
    "jitter0.1_scale0.2|--jitter 0.1 --scale 0.2"
    "batchnorm|--norm batch"
    "label_smoothing0.1|--label-smoothing 0.1"
    "crop0.9|--crop-scale 0.9"
    "channels48|--channels 48,96,144"
    "rotate25_epochs900|--rotate 25 --epochs 900 --every 300"
    "dropout0.3_epochs900|--dropout 0.3 --epochs 900 --every 300"
)
for config in "${CONFIGS[@]}"; do
    name="${config%%|*}"
    [[ -z "${ONLY:-}" || ",$ONLY," == *",$name,"* ]] || continue
    echo "$name|$BASE --name $name ${config#*|}"
done | xargs -P "$JOBS" -I{} bash -c 'line="{}"; OMP_NUM_THREADS=1 '"$PYTHON"' -m experiments.utd_imu_val_curve ${line#*|} > "'"$OUT"'/${line%%|*}.log" 2>&1'
