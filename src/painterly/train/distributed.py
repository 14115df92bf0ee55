"""Training in several processes with DistributedDataParallel, launched by ``torchrun``.

``torchrun`` starts one process per GPU and tells each who it is through the environment
(``RANK``, ``WORLD_SIZE``, ``LOCAL_RANK``, ``MASTER_ADDR``/``MASTER_PORT``); :func:`world_from_env`
reads it. Without it (a plain ``python``/``painterly`` run) the world is one process and every
helper here does nothing, so the single-process loop is unchanged.

In a run of ``W`` processes the global batch of step ``k`` is still a function of ``(seed, k)``
alone: process ``r`` takes the contiguous slice ``[r * B/W, (r+1) * B/W)`` of it
(:func:`shard`). Every loss the tasks use is a mean over the batch, and DDP averages the
gradients over processes, so ``W`` processes with ``B/W`` samples each take exactly the step one
process takes with ``B`` (up to float summation order).

Importing this module initialises nothing; :func:`init` does, from :func:`painterly.train.loop.train`.
The process group then lives until the process exits (it is destroyed at exit): re-creating
it in the same process from the same rendezvous store is not reliable, and keeping it lets a
script call ``train`` several times.
"""

from __future__ import annotations

import atexit
import os
from collections.abc import Mapping
from dataclasses import dataclass

import torch
from torch import nn

from ..errors import PainterlyError


@dataclass(frozen=True)
class World:
    """This process's place among the training processes (one process: the defaults)."""

    rank: int = 0          # 0 .. size-1 over all nodes
    size: int = 1          # number of processes
    local_rank: int = 0    # 0 .. processes on this node - 1: the GPU this process uses

    @property
    def main(self) -> bool:
        """Rank 0: the process that writes checkpoints, samples, logs and the model."""
        return self.rank == 0

    @property
    def distributed(self) -> bool:
        return self.size > 1


def world_from_env(env: Mapping[str, str] = os.environ) -> World:
    """The world ``torchrun`` describes in ``env``; one process when it is not set."""
    try:
        size = int(env.get("WORLD_SIZE", "1"))
        rank = int(env.get("RANK", "0"))
        local_rank = int(env.get("LOCAL_RANK", str(rank)))
    except ValueError:
        raise PainterlyError("RANK, WORLD_SIZE and LOCAL_RANK must be integers (as torchrun sets them)") from None
    if size < 1 or not 0 <= rank < size or local_rank < 0:
        raise PainterlyError(f"inconsistent torchrun environment: RANK {rank}, WORLD_SIZE {size}, "
                             f"LOCAL_RANK {local_rank}")
    return World(rank, size, local_rank)


def local_device(device: str | torch.device, world: World) -> torch.device:
    """The device of this process: ``cuda`` (no index) becomes ``cuda:LOCAL_RANK`` in a distributed run."""
    device = torch.device(device)
    if world.distributed and device.type == "cuda" and device.index is None:
        return torch.device("cuda", world.local_rank)
    return device


def shard(batch_size: int, world: World) -> slice:
    """Positions (in the global batch) of this process's samples: a contiguous slice of ``batch_size / size``."""
    if batch_size % world.size:
        raise PainterlyError(f"the batch size ({batch_size}) is the global batch: it must be a multiple of the "
                             f"number of processes ({world.size})")
    part = batch_size // world.size
    return slice(world.rank * part, (world.rank + 1) * part)


def local_batch(batches, step: int, world: World, batch_size: int) -> dict[str, torch.Tensor]:
    """This process's part of the global batch of ``step`` (the whole batch in one process).

    A source with ``batch_part(step, part)`` builds only those samples (the photo batches do);
    any other source builds the whole batch, which is then sliced.
    """
    if not world.distributed:
        return batches.batch(step)
    part = shard(batch_size, world)
    if hasattr(batches, "batch_part"):
        return batches.batch_part(step, part)
    batch = batches.batch(step)
    sizes = {len(v) for v in batch.values() if isinstance(v, torch.Tensor)}
    if sizes != {batch_size}:
        raise PainterlyError(f"the batch source gives batches of {sorted(sizes)}, not the batch size {batch_size}")
    return {k: v[part] if isinstance(v, torch.Tensor) else v for k, v in batch.items()}


# --------------------------------------------------------------------------- process group


def init(world: World, device: torch.device) -> bool:
    """Join the process group (nccl on CUDA, gloo on CPU) unless it exists, and leave it when the
    process exits; True when this call created it (a group the caller created is the caller's)."""
    if not world.distributed:
        return False
    import torch.distributed as dist

    if device.type == "cuda":
        torch.cuda.set_device(device)  # NCCL collectives run on the current device
    if dist.is_initialized():
        return False
    if device.type == "cuda":
        dist.init_process_group("nccl", device_id=device)
    elif device.type == "cpu":
        dist.init_process_group("gloo")
    else:
        raise PainterlyError(f"training in several processes needs CUDA or the CPU, not {device.type}")
    atexit.register(shutdown)
    return True


def shutdown() -> None:
    """Leave the process group (if there is one)."""
    import torch.distributed as dist

    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()


def _comm_device() -> torch.device:
    import torch.distributed as dist

    return torch.device("cuda", torch.cuda.current_device()) if dist.get_backend() == "nccl" else torch.device("cpu")


def barrier(world: World) -> None:
    if world.distributed:
        import torch.distributed as dist

        if dist.get_backend() == "nccl":
            dist.barrier(device_ids=[torch.cuda.current_device()])
        else:
            dist.barrier()


def wrap(modules: Mapping[str, nn.Module], params: list[nn.Parameter], device: torch.device
         ) -> dict[str, nn.Module]:
    """A DistributedDataParallel around each module that has trained parameters.

    DDP broadcasts rank 0's weights at construction and averages the gradients of every
    parameter that requires one during ``backward``; frozen modules (VGG) are never wrapped.
    """
    from torch.nn.parallel import DistributedDataParallel

    trained = {id(p) for p in params}
    wrapped, covered = {}, set()
    for name, module in modules.items():
        own = {id(p) for p in module.parameters() if p.requires_grad}
        if own & trained:
            wrapped[name] = DistributedDataParallel(module, device_ids=[device.index] if device.type == "cuda"
                                                    else None)
            covered |= own
    if trained - covered:
        raise PainterlyError("every trained parameter must belong to one of the task's modules() "
                             "to train in several processes")
    return wrapped


def mean_losses(losses: Mapping[str, torch.Tensor], world: World) -> dict[str, float]:
    """The logged losses as floats, averaged over the processes (the losses of the global batch)."""
    if not world.distributed:
        return {k: float(v.detach()) for k, v in losses.items()}
    import torch.distributed as dist

    values = torch.stack([v.detach().float().reshape(()) for v in losses.values()]).to(_comm_device())
    dist.all_reduce(values)
    return dict(zip(losses, (values / world.size).tolist()))


def rank0_decides(flag: bool, world: World) -> bool:
    """Rank 0's ``flag`` on every process (so that all stop at the same step)."""
    if not world.distributed:
        return flag
    import torch.distributed as dist

    value = torch.tensor([int(flag)], device=_comm_device())
    dist.broadcast(value, src=0)
    return bool(value.item())


def check_same_step(step: int, world: World) -> None:
    """Every process must resume from the same step (the run folder must be visible to all nodes)."""
    if not world.distributed:
        return
    import torch.distributed as dist

    mine = torch.tensor([step], device=_comm_device())
    steps = [torch.zeros_like(mine) for _ in range(world.size)]
    dist.all_gather(steps, mine)
    found = [int(s.item()) for s in steps]
    if len(set(found)) > 1:
        raise PainterlyError(f"the processes resume from different steps ({found} by rank): every node must see "
                             "the same run folder (use a shared file system for --run-dir)")


__all__ = ["World", "world_from_env", "local_device", "shard", "local_batch", "init", "shutdown", "barrier", "wrap",
           "mean_losses", "rank0_decides", "check_same_step"]
