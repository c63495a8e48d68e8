"""harlit.report: Table 2, Fig. 2 and Fig. 3 reports from the metrics.json of finished runs.

Every metrics.json below the given folders is one run (a registry's copy of a stage-1 run's counts
once). Runs are grouped by their setting: dataset and split (MMAct protocol and classes; training,
validation and test subjects, or test cameras, scenes, sessions), experiment, setup (IMU, RGB, IMU+RGB
and the zero-shot setups IMU*, RGB*, IMU*+RGB, RGB*+IMU, IMU*+RGB*, with the classes and the modality
they are hidden from), head and modality dropout, and training-data ratio; each group gets mean and
sample standard deviation (ddof=1) over its seeds. A model other than its experiment's own is labelled
[head, p], a *_paper experiment's [paper setting]; concat_mlp is harlit's fusion head, concat_mlp_paper
the paper's. Rows of one label that differ in a setting no column shows name it, e.g. (val_subjects=[3]).
Evaluations (`python -m harlit.evaluate`, "evaluation": true) are not training runs: those with a
modality missing at test feed only the robustness table and figure.

Modules, one job each:
- setups: the metric and setup names, and setup_of (a run's modality and hidden classes -> its setup)
- runs: reading metrics.json into Runs (the setting of each: GroupKey), grouping them, and the Hydra
  overrides they share
- settings: what tells rows of one label apart where their settings differ in what no column shows
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
