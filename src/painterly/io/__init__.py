"""Reading and writing images, frames, GIFs and videos."""
