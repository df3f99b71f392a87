"""What both ``verify`` and ``experiments`` use and neither owns: synthetic test images
(``patterns``), matplotlib figures (``plotting``) and writing outputs atomically
(``outputs``). Imports only ``numerics`` from the package."""
