"""``python -m hubao`` is the ``hubao`` command."""

from hubao.bot.cli import main

raise SystemExit(main())
