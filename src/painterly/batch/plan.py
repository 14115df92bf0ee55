"""What a batch run does: the input images (walked lazily), their styles and their output paths.

Inputs come from walking ``IN_DIR`` (sorted, depth first, one folder in memory at a time;
hidden entries, symbolic links to folders and the output folder are skipped) or from a list
file of paths relative to ``IN_DIR``. Each image gets ``K`` styles from the pool by
rendezvous hashing: the K styles with the smallest ``sha256(seed, relative path, style)``.
That depends on nothing but the seed, the path and the pool, so reruns, resumed runs and
the Ray runner choose the same styles, and adding a style to the pool only moves the images
that now rank it first.

Outputs mirror the input tree: ``OUT_DIR/<relative path>`` for one style per image, and
``OUT_DIR/<folder>/<stem>.<style><suffix>`` for several. The file type is the input's.
"""

from __future__ import annotations

import hashlib
import os
import posixpath
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from ..io.formats import IMAGE_SUFFIXES


@dataclass(frozen=True)
class Entry:
    """One input found by walking or listing: a path relative to ``IN_DIR`` (POSIX), or a problem."""

    input: str
    error: str | None = None


@dataclass(frozen=True)
class ImageJob:
    """One input image and the (style, output) pairs still to be made for it."""

    input: str                                    # relative to IN_DIR, POSIX separators
    tasks: tuple[tuple[str, str], ...]            # (style label, output path relative to OUT_DIR)
    error: str | None = None                      # known before reading (e.g. a list entry outside IN_DIR)

    def to_dict(self) -> dict:
        return {"input": self.input, "tasks": [list(t) for t in self.tasks], "error": self.error}

    @classmethod
    def from_dict(cls, data: dict) -> "ImageJob":
        return cls(data["input"], tuple((s, o) for s, o in data["tasks"]), data.get("error"))


# --------------------------------------------------------------------------- inputs


def is_image_name(name: str) -> bool:
    return name.lower().endswith(IMAGE_SUFFIXES)


def walk_images(root: str | os.PathLike, skip: str | os.PathLike | None = None) -> Iterator[Entry]:
    """Image files under ``root`` as relative POSIX paths, in sorted order, lazily.

    ``skip`` (e.g. the output folder when it lies inside ``root``) is not entered. A folder
    that cannot be read is reported as an :class:`Entry` with an error, and the walk goes on.
    """
    root = Path(root)
    skip_real = os.path.realpath(skip) if skip is not None else None
    yield from _walk(root, "", skip_real)


def _walk(folder: Path, prefix: str, skip_real: str | None) -> Iterator[Entry]:
    try:
        with os.scandir(folder) as handle:
            entries = sorted(((e.name, e.is_dir(follow_symlinks=False), e.is_file()) for e in handle))
    except OSError as exc:
        yield Entry(prefix.rstrip("/") or ".", f"cannot read folder ({exc.strerror or exc})")
        return
    for name, is_dir, is_file in entries:
        if name.startswith("."):
            continue
        if is_dir:
            if skip_real is not None and os.path.realpath(folder / name) == skip_real:
                continue
            yield from _walk(folder / name, f"{prefix}{name}/", skip_real)
        elif is_file and is_image_name(name):
            yield Entry(prefix + name)


def read_list(list_file: str | os.PathLike, root: str | os.PathLike) -> Iterator[Entry]:
    """Entries of a list file (one path a line; blank lines and ``#`` comments skipped), lazily.

    Relative paths are taken relative to ``root``; absolute ones must lie inside it. Paths
    that leave ``root`` become entries with an error (their outputs could not mirror them).
    """
    root_real = os.path.realpath(root)
    with open(list_file, encoding="utf-8") as handle:
        for line in handle:
            text = line.strip()
            if not text or text.startswith("#"):
                continue
            yield _list_entry(text, root_real)


def _list_entry(text: str, root_real: str) -> Entry:
    if os.path.isabs(text):
        relative = os.path.relpath(os.path.realpath(text), root_real)
    else:
        relative = os.path.normpath(text)
    relative = relative.replace(os.sep, "/")
    if relative == "." or relative.startswith("../") or relative == ".." or posixpath.isabs(relative):
        return Entry(text, "not inside the input folder")
    return Entry(relative)


# --------------------------------------------------------------------------- styles and outputs


def style_score(seed: int, relative: str, style: str) -> bytes:
    return hashlib.sha256(f"{seed}\0{relative}\0{style}".encode()).digest()


def assign_styles(relative: str, pool: Sequence[str], k: int, seed: int = 0) -> list[str]:
    """The ``k`` styles of ``pool`` for the image at ``relative`` (rendezvous hashing; module docstring)."""
    if k > len(pool):
        raise ValueError(f"cannot pick {k} styles from {len(pool)}")
    return sorted(pool, key=lambda style: style_score(seed, relative, style))[:k]


def output_path(relative: str, style: str, k: int) -> str:
    """Where the result for ``relative`` in ``style`` goes, relative to the output folder."""
    if k == 1:
        return relative
    folder, name = posixpath.split(relative)
    stem, suffix = posixpath.splitext(name)
    return posixpath.join(folder, f"{stem}.{style}{suffix}")


def plan_jobs(entries: Iterable[Entry], pool: Sequence[str], k: int, seed: int,
              is_done=None) -> Iterator[ImageJob | int]:
    """Jobs for ``entries``; tasks for which ``is_done(input, style, output)`` holds are left out.

    Yields an :class:`ImageJob` for every entry with work left, and the number of tasks left
    out as a plain ``int`` when there are any (so callers can count skips without a second walk).
    """
    for entry in entries:
        if entry.error is not None:
            tasks = (("", ""),)
        else:
            styles = assign_styles(entry.input, pool, k, seed)
            tasks = tuple((style, output_path(entry.input, style, k)) for style in styles)
        todo = tuple(t for t in tasks if is_done is None or not is_done(entry.input, *t))
        if len(todo) < len(tasks):
            yield len(tasks) - len(todo)
        if todo:
            yield ImageJob(entry.input, todo, entry.error)


__all__ = ["Entry", "ImageJob", "IMAGE_SUFFIXES", "walk_images", "read_list", "assign_styles", "output_path",
           "plan_jobs", "is_image_name"]
