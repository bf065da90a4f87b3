"""``python -m hubao`` is the ``hubao`` command."""

from hubao.cli import main

raise SystemExit(main())
