"""Backend-agnostic numerical building blocks (NumPy or CuPy); imports nothing of overparam."""
