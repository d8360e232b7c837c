"""Running models on datasets and scoring them into run directories."""

from pikfix_bench.evaluation.rundir import RunDirectory
from pikfix_bench.evaluation.runner import RunResult, evaluate

__all__ = ["RunDirectory", "RunResult", "evaluate"]
