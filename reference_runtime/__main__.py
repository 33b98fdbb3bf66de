"""``python -m reference_runtime serve ...``."""

from .cli import main

raise SystemExit(main())
