"""``python -m bytegram``: the command-line interface."""

from .cli import main

raise SystemExit(main())
