"""``python -m actors.services``: list the platform's processes (see ``actors/services/__init__.py``)."""

import sys

from actors.services import main

sys.exit(main())
