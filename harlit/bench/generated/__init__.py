"""Generated data in the real file formats: the one writer of fake videos and dataset trees, used by the
benchmarks (harlit.bench) and the tests alike.

- videos: video files (flat-colour and textured mpeg4, MMAct-like H.264, a given clip as H.264)
- utd: UTD-MHAD trees, tiny ones and the training benchmark's full training split
- mmact: MMAct trimmed-release trees, tiny ones with the real data's quirks and 1080p H.264 ones
- synthetic_files: the synthetic dataset's samples as files with a manifest (`data=manifest`)
"""

from harlit.bench.generated.mmact import (
    SENSOR_FOLDERS,
    SENSOR_RATES,
    make_mmact_tree,
    make_mmact_video_tree,
    sensor_rows,
    write_mmact_sample,
)
from harlit.bench.generated.synthetic_files import make_synthetic_files
from harlit.bench.generated.utd import (
    TEST_SAMPLE,
    TRAIN_SUBJECTS,
    TreeSpec,
    build_utd_tree,
    make_utd_tree,
    utd_signal,
    write_utd_sample,
)
from harlit.bench.generated.videos import (
    encode_video,
    write_clip_video,
    write_h264_video,
    write_textured_video,
    write_video,
)

__all__ = [
    "SENSOR_FOLDERS",
    "SENSOR_RATES",
    "TEST_SAMPLE",
    "TRAIN_SUBJECTS",
    "TreeSpec",
    "build_utd_tree",
    "encode_video",
    "make_mmact_tree",
    "make_mmact_video_tree",
    "make_synthetic_files",
    "make_utd_tree",
    "sensor_rows",
    "utd_signal",
    "write_clip_video",
    "write_h264_video",
    "write_mmact_sample",
    "write_textured_video",
    "write_utd_sample",
    "write_video",
]
