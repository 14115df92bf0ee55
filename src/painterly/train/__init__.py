"""Training pipelines: the shared loop (:mod:`.loop`), photo batches (:mod:`.data`), per-style
(:mod:`.fast`) and multi-style (:mod:`.multistyle`) networks, and loss-weight tuning (:mod:`.tune`);
several processes under ``torchrun`` (DistributedDataParallel) in :mod:`.distributed`.

Importing this package loads nothing heavy and has no side effects.
"""

from .loop import TrainerConfig, TrainProgress, TrainResult, TrainTask, train

__all__ = ["TrainerConfig", "TrainProgress", "TrainResult", "TrainTask", "train"]
