# Shared by the recipes in experiments/*/run.sh: argument parsing, one sweep, the report.
# Usage of a recipe:
#   experiments/<recipe>/run.sh [-d DATASET] [-m MODALITIES] [-o OUT] [-r RUNS] [hydra overrides...]
#     -d  experiment prefix: synthetic (default), utd, mmact (uses <d>_stage1_imu, <d>_stage1_video, <d>_stage2)
#     -m  comma list of imu, video, fusion (default: all three)
#     -o  where the report goes (default: experiments/<recipe>/results_<d>)
#     -r  where the runs go (default: $HARLIT_ROOT/logs/experiments/<recipe>_<d>, HARLIT_ROOT defaulting to .)
#   Overrides go to every job, e.g. trainer.max_epochs=2 seed=0,1 data.root=/data/utd_mhad.
#   HEAD=late (or a grid, HEAD=late,gated) picks the fusion head of the stage-2 sweeps only; their runs go
#   to fusion_<sweep>_<heads>, so recipes run with different heads share one runs folder and one report.
set -euo pipefail

REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
PYTHON="${PYTHON:-python}"
DATASET=synthetic
MODALITIES=imu,video,fusion
OUT=""
RUNS=""

parse_recipe_args() {  # $1 = recipe name, then the recipe's arguments
    RECIPE="$1"; shift
    OPTIND=1
    while getopts "d:m:o:r:h" opt; do
        case "$opt" in
            d) DATASET="$OPTARG" ;;
            m) MODALITIES="$OPTARG" ;;
            o) OUT="$OPTARG" ;;
            r) RUNS="$OPTARG" ;;
            *) sed -n '2,9p' "$REPO_ROOT/experiments/common.sh"; exit 2 ;;
        esac
    done
    shift $((OPTIND - 1))
    OVERRIDES=("$@")
    OUT="${OUT:-$REPO_ROOT/experiments/$RECIPE/results_$DATASET}"
    RUNS="${RUNS:-${HARLIT_ROOT:-$REPO_ROOT}/logs/experiments/${RECIPE}_$DATASET}"
    cd "$REPO_ROOT"
}

wants() {  # wants imu|video|fusion: is that modality selected with -m?
    [[ ",$MODALITIES," == *",$1,"* ]]
}

experiment_for() {  # the experiment name of a modality
    case "$1" in
        imu) echo "${DATASET}_stage1_imu" ;;
        video) echo "${DATASET}_stage1_video" ;;
        fusion) echo "${DATASET}_stage2" ;;
    esac
}

sweep() {  # sweep MODALITY SWEEP_CONFIG: one Hydra multirun into $RUNS/<modality>_<sweep>[_<heads>]
    local modality="$1" grid="$2" folder="$1_$2"
    local head_args=()
    if [[ "$modality" == fusion && -n "${HEAD:-}" ]]; then
        head_args=("model/head=$HEAD")
        folder="${folder}_${HEAD//,/-}"
    fi
    local given=("${OVERRIDES[@]}")
    if [[ "$modality" == fusion && ${#OVERRIDES[@]} -gt 0 ]]; then
        # The fusion jobs reuse the stage-1 sweeps' encoders only if those got the same overrides:
        # the ones that do not reach stage 1 by themselves go through stage1_overrides.<modality>.
        mapfile -t given < <("$PYTHON" -c 'import sys; from harlit.stage1 import for_every_stage
print("\n".join(for_every_stage(sys.argv[1:])))' "${OVERRIDES[@]}")
    fi
    echo ">> $(experiment_for "$modality") +sweep=$grid ${head_args[*]:-} ${given[*]:-}" >&2
    "$PYTHON" -m harlit.run -m "+experiment=$(experiment_for "$modality")" "+sweep=$grid" \
        "hydra.sweep.dir=$RUNS/$folder" "${head_args[@]}" "${given[@]}"
}

report() {
    "$PYTHON" -m harlit.report "$RUNS" --out "$OUT"
    echo "report: $OUT/report.md" >&2
}

sweep_into() {  # sweep_into MODALITY SWEEP_CONFIG FOLDER [OVERRIDE...]: like sweep, into $RUNS/FOLDER, the
    # given overrides (e.g. a grid of their own) before the recipe's
    local modality="$1" grid="$2" folder="$3"
    shift 3
    echo ">> $(experiment_for "$modality") +sweep=$grid $* ${OVERRIDES[*]:-}" >&2
    "$PYTHON" -m harlit.run -m "+experiment=$(experiment_for "$modality")" "+sweep=$grid" \
        "hydra.sweep.dir=$RUNS/$folder" "$@" "${OVERRIDES[@]}"
}
