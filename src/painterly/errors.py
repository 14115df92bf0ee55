"""Errors a user can fix. The command line prints them as one ``error:`` line, exit status 2."""


class PainterlyError(Exception):
    """Base class for problems with the user's input or settings (not bugs)."""


class ImageError(PainterlyError):
    """An image that cannot be read, is too large, or is otherwise unusable."""


class StyleNotFoundError(PainterlyError):
    """A style name that is neither built in nor an existing image file."""
