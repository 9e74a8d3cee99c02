"""``python -m agentic_desktop``: open the window with the API running inside it."""

import sys

from agentic_desktop.app import main

sys.exit(main())
