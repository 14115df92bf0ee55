"""The local runner: the jobs of a :class:`~painterly.batch.session.BatchSession` on this machine.

``workers=1`` runs everything in this thread. More workers are model replicas, either
threads sharing one loaded model (``pool="thread"``: decoding, encoding, hashing and the
network all release the GIL) or processes with a model each (``pool="process"``, spawned).
Each worker runs single-threaded unless ``threads`` says otherwise (see :meth:`BatchConfig.worker_threads`).
Jobs are submitted through a bounded window, so the plan is consumed lazily whatever its size.
"""

from __future__ import annotations

import itertools
import multiprocessing
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import FIRST_COMPLETED, Executor, ProcessPoolExecutor, ThreadPoolExecutor, wait

from .plan import ImageJob
from .session import BatchSession
from .work import Worker, WorkerSpec

PROCESS_CHUNK = 4      # jobs per task sent to a worker process (fewer round trips)


def run_local(session: BatchSession) -> None:
    """Process every job of ``session`` here, recording rows as they finish."""
    import torch

    config = session.config
    saved_threads = torch.get_num_threads()
    try:
        if config.workers == 1:
            worker = Worker(session.spec())
            for job in session.jobs():
                session.record(worker(job))
        elif config.pool == "thread":
            worker = Worker(session.spec())
            with ThreadPoolExecutor(config.workers, thread_name_prefix="painterly-batch") as pool:
                for rows in bounded_map(pool, worker, session.jobs(), 2 * config.workers):
                    session.record(rows)
        else:
            context = multiprocessing.get_context("spawn")
            with ProcessPoolExecutor(config.workers, mp_context=context, initializer=_start_process,
                                     initargs=(session.spec(),)) as pool:
                chunks = _chunks(session.jobs(), PROCESS_CHUNK)
                for rows in bounded_map(pool, _process_chunk, chunks, 2 * config.workers):
                    session.record(rows)
    finally:
        torch.set_num_threads(saved_threads)


def bounded_map(executor: Executor, function: Callable, items: Iterable, window: int) -> Iterator:
    """``executor.map`` that keeps at most ``window`` calls in flight and yields results as they finish."""
    items = iter(items)
    pending = {executor.submit(function, item) for item in itertools.islice(items, window)}
    try:
        while pending:
            finished, pending = wait(pending, return_when=FIRST_COMPLETED)
            for future in finished:
                yield future.result()
            for item in itertools.islice(items, len(finished)):
                pending.add(executor.submit(function, item))
    finally:
        for future in pending:
            future.cancel()


def _chunks(jobs: Iterable[ImageJob], size: int) -> Iterator[list[ImageJob]]:
    jobs = iter(jobs)
    while chunk := list(itertools.islice(jobs, size)):
        yield chunk


# the one Worker of a pool process (set by the pool's initializer, used by every call in that process)
_PROCESS_WORKER: list[Worker] = []


def _start_process(spec: WorkerSpec) -> None:
    _PROCESS_WORKER.append(Worker(spec))


def _process_chunk(jobs: list[ImageJob]) -> list[dict]:
    worker = _PROCESS_WORKER[0]
    return [row for job in jobs for row in worker(job)]


__all__ = ["run_local", "bounded_map"]
