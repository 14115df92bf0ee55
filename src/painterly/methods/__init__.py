"""Style transfer methods, one module each."""
