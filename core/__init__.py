"""Footnote's engine: load -> chunk -> embed -> store -> retrieve -> generate.

Nothing in this package imports Qt; it runs the same from the CLI, a test or a worker thread.

OpenMP threads (llama.cpp's, and ONNX Runtime's where it is built with OpenMP) spin while they wait
by default. With another process on the CPU that cost decode 20-50x here (0.3-1 token/s against
15-24 with ``PASSIVE``), so the policy is set before either library is loaded; every path into
them goes through this package. A value the user set is kept.
"""

import os

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
