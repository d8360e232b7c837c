"""Seeded, recorded, composable old-photo damage (installed as ``pikfix_bench.degradations``).

>>> from skimage import data
>>> from pikfix_bench.degradations import degrade, replay
>>> result = degrade(data.astronaut(), "pikfix", seed=0, sample_id="astronaut")
>>> result.image.shape, result.mask.shape
((512, 512), (512, 512))
>>> (replay(data.astronaut(), result.record).image == result.image).all()
np.True_
"""

from pikfix_bench.degradations import (  # noqa: F401 - register the operations
    ageing,
    blur,
    holes,
    noise,
    paper,
    realesrgan,
    resample,
    structural,
    texture,
)
from pikfix_bench.degradations.base import (
    OPERATIONS,
    DegradationError,
    Operation,
    Param,
    get_operation,
    path_values,
    register,
    without_paths,
)
from pikfix_bench.degradations.pipeline import (
    DegradationResult,
    Pipeline,
    degrade,
    paired_ground_truth,
    replay,
    sample_generator,
)
from pikfix_bench.degradations.presets import PRESETS, build_pipeline
from pikfix_bench.degradations.severity import SEVERITIES, severity_settings

__all__ = [
    "OPERATIONS",
    "PRESETS",
    "SEVERITIES",
    "DegradationError",
    "DegradationResult",
    "Operation",
    "Param",
    "Pipeline",
    "build_pipeline",
    "degrade",
    "get_operation",
    "paired_ground_truth",
    "path_values",
    "register",
    "replay",
    "sample_generator",
    "severity_settings",
    "without_paths",
]
