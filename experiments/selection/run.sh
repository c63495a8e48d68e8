#!/usr/bin/env bash
# Select settings on validation subjects only, through harlit.run itself (a Hydra multirun).
#
#   experiments/selection/run.sh -e EXPERIMENT -f FOLDS [-s SEEDS] [-r RUNS] [candidate sweeps...]
#     -e  the experiment, e.g. utd_stage1_imu
#     -f  validation folds, a Hydra choice of lists of training subjects, e.g. "[1],[3],[5],[7]"
#     -s  seeds (default 0,1,2)
#     -r  where the runs go (default: $HARLIT_ROOT/logs/selection/<experiment>)
#   Candidate sweeps are Hydra overrides, e.g. model.imu.norm=none,batch trainer.max_epochs=150,300.
#
# Every job trains on the training subjects minus one fold and returns `optimized_metric` (val/top1 at
# the tested epoch) in its metrics.json; the test split is never read for choosing. Then
#   python experiments/selection/summarise.py RUNS --baseline "<overrides of the current setting>"
# prints each candidate's mean validation score and its paired difference from the baseline over the
# (fold, seed) pairs, per fold too. Decide by a rule written down before the runs finish; evaluate the
# chosen setting on the test split once. With hydra-optuna-sweeper installed, `hydra/sweeper=optuna`
# optimises the same returned validation value instead of a grid.
set -euo pipefail
REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
PYTHON="${PYTHON:-python}"
EXPERIMENT="" FOLDS="" SEEDS="0,1,2" RUNS=""
while getopts "e:f:s:r:h" opt; do
    case "$opt" in
        e) EXPERIMENT="$OPTARG" ;;
        f) FOLDS="$OPTARG" ;;
        s) SEEDS="$OPTARG" ;;
        r) RUNS="$OPTARG" ;;
        *) sed -n '2,20p' "$0"; exit 2 ;;
    esac
done
shift $((OPTIND - 1))
if [ -z "$EXPERIMENT" ] || [ -z "$FOLDS" ]; then sed -n '2,20p' "$0"; exit 2; fi
RUNS="${RUNS:-${HARLIT_ROOT:-$REPO_ROOT}/logs/selection/$EXPERIMENT}"
cd "$REPO_ROOT"
"$PYTHON" -m harlit.run -m "+experiment=$EXPERIMENT" "data.val_subjects=$FOLDS" "seed=$SEEDS" \
    optimized_metric=val/top1 "hydra.sweep.dir=$RUNS" "$@"
"$PYTHON" experiments/selection/summarise.py "$RUNS"
