#!/usr/bin/env bash
# Table 2: IMU only, video only and IMU + video, three seeds each (+sweep=seeds), then the report.
#   experiments/table2/run.sh -d utd data.root=/data/utd_mhad
# Options and overrides: see experiments/common.sh (HEAD=late etc. for another fusion head).
source "$(dirname "$0")/../common.sh"
parse_recipe_args table2 "$@"
for modality in imu video fusion; do
    if wants "$modality"; then sweep "$modality" seeds; fi
done
report
