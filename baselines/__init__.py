"""Model adapters: the registry, weight-free baselines, deep baselines and external-code recipes.

Installed as ``pikfix_bench.baselines``. Third-party packages add models through the entry-point
group ``pikfix_bench.models`` (an entry pointing at a :class:`ModelAdapter` subclass).
"""

from pikfix_bench.baselines import (  # noqa: F401 - register
    colorizers,
    command,
    pikfix,
    pix2pix,
    predictions,
    recipes,
    restore,
)
from pikfix_bench.baselines.base import (
    ENTRY_POINT_GROUP,
    MODELS,
    Batch,
    ModelAdapter,
    ModelDescriptor,
    ModelError,
    ModelOption,
    create_model,
    list_models,
    register_model,
)

__all__ = [
    "ENTRY_POINT_GROUP",
    "MODELS",
    "Batch",
    "ModelAdapter",
    "ModelDescriptor",
    "ModelError",
    "ModelOption",
    "create_model",
    "list_models",
    "register_model",
]
