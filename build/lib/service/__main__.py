"""``python -m service`` runs the ``moderation`` command."""

import sys

from service.cli import main

sys.exit(main())
