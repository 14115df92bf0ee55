"""Training pipelines: the shared loop (:mod:`.loop`), photo batches (:mod:`.data`), per-style
(:mod:`.fast`) and multi-style (:mod:`.multistyle`) networks, and loss-weight tuning (:mod:`.tune`).

Importing this package loads nothing heavy and has no side effects.
"""

from .loop import TrainerConfig, TrainProgress, TrainResult, TrainTask, train

__all__ = ["TrainerConfig", "TrainProgress", "TrainResult", "TrainTask", "train"]
