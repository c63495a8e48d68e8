"""harlit.report: Table 2, Fig. 2 and Fig. 3 reports from the metrics.json of finished runs.

Every metrics.json below the given folders is one run. Runs are grouped by dataset, setup (IMU, RGB,
IMU+RGB and the zero-shot setups IMU*, RGB*, IMU*+RGB, RGB*+IMU), training-data ratio, number of
hidden classes, head and modality dropout (fusion heads other than the paper's concat_mlp, or p > 0, are
labelled [head, p]); each group gets mean and sample standard deviation (ddof=1) over its seeds.
Evaluations (`python -m harlit.evaluate`, "evaluation": true) are not training runs: those with a
modality missing at test feed only the robustness table and figure.

Modules, one job each:
- setups: the metric and setup names, and setup_of (a run's modality and hidden classes -> its setup)
- runs: reading metrics.json into Runs, grouping them, and the Hydra overrides they share
- selection: which groups Fig. 2 and Fig. 3 show
- robustness: the robustness table (fusion models with both, IMU only, video only; stage-1 references)
- paper: the paper's own Table 2 numbers, the only quoted (not measured) numbers
- paths: how report.md names folders and path-valued overrides without the machine's paths
- tables: report.csv and report.md
- figures: data_ratio.png, zero_shot.png, robustness.png, confusion_matrix.png
- make: make_report, which writes all of them into one folder
- cli (and __main__): `python -m harlit.report DIR [DIR...] [--out OUT] [--confusion RUN_DIR]`

This package imports only leaf harlit modules (harlit.errors) and third-party libraries, never the
training, config or model code: it reads files that finished runs left behind.
"""

from harlit.report.make import make_report
from harlit.report.setups import setup_of

__all__ = ["make_report", "setup_of"]
