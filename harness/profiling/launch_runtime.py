"""Start the reference runtime from a file (memray and scalene need a script to run).

``HARNESS_RUNTIME_MODULE`` names the module whose ``main()`` serves it (default
``reference_runtime.cli``; tests use a stand-in with known hot spots).
"""

import importlib
import os
import sys

if __name__ == "__main__":
    sys.path.insert(0, os.getcwd())  # as with ``python -c``: the caller's folder is importable
    module = importlib.import_module(os.environ.get("HARNESS_RUNTIME_MODULE", "reference_runtime.cli"))
    sys.exit(module.main())
