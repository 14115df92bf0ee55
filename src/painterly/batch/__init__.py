"""Stylise whole datasets: ``painterly batch`` as a library.

    from painterly.batch import BatchConfig, run_batch
    summary = run_batch(BatchConfig("photos", "styled", method="fast", styles=("wheat_field",)))

Modules: :mod:`~painterly.batch.config` (settings, progress, summary), :mod:`~.plan` (walking
and the deterministic style assignment), :mod:`~.styles` (the style pool), :mod:`~.work`
(decode, stylise, write one image), :mod:`~.manifest` (the crash-safe journal),
:mod:`~.session` (lock, resume, recording), :mod:`~.local` and :mod:`~.ray_runner` (where the
work runs). Ray is imported only by the Ray runner.
"""

from __future__ import annotations

from collections.abc import Callable

from .config import BatchConfig, BatchProgress, BatchSummary


def run_batch(config: BatchConfig, on_progress: Callable[[BatchProgress], None] | None = None) -> BatchSummary:
    """Stylise every image under ``config.input_dir`` (see :class:`BatchConfig`); resumes an earlier run."""
    from .session import BatchSession
    from .styles import resolve_styles

    config = config.validate()
    styles = resolve_styles(config)  # a typo stops the run before a Ray cluster is started
    if config.ray:
        from .ray_runner import connect_ray, run_ray

        with connect_ray(config) as cluster, BatchSession(config, on_progress, styles) as session:
            run_ray(session, cluster)
            return session.finish("ray")
    from .local import run_local

    with BatchSession(config, on_progress, styles) as session:
        run_local(session)
        return session.finish("local")


__all__ = ["BatchConfig", "BatchProgress", "BatchSummary", "run_batch"]
