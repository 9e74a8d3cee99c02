"""``python -m agentic_desktop``: open the window with the API running inside it."""

import multiprocessing
import sys

if __name__ == "__main__":
    # The bundled app's child processes (the vector store) start through this same program.
    multiprocessing.freeze_support()
    from agentic_desktop.app import main

    sys.exit(main())
