"""The Pik-Fix model (Xu et al., "Pik-Fix: Restoring and Colorizing Old Photos", WACV 2023), in PyTorch.

No weights were published; train them with ``pikfix-bench train`` and evaluate with the ``pikfix``
adapter. Module per sub-network: :mod:`restoration`, :mod:`similarity`, :mod:`colorization`;
:mod:`network` composes them, :mod:`losses` and :mod:`training` train them. See ``docs/pikfix.md``.
"""

from pikfix_bench.model.config import PikFixConfig
from pikfix_bench.model.inference import colorize, load_model, save_model
from pikfix_bench.model.network import PikFix, PikFixOutput
from pikfix_bench.model.training import train

__all__ = ["PikFix", "PikFixConfig", "PikFixOutput", "colorize", "load_model", "save_model", "train"]
