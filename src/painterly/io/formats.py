"""File suffixes painterly reads as images when it lists a folder (no imports: cheap for the CLI)."""

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".webp", ".bmp", ".tif", ".tiff")

__all__ = ["IMAGE_SUFFIXES"]
