"""The file spark-submit runs: the `crm` command line inside the session spark-submit created."""

import sys
from pathlib import Path

# spark-submit puts this file's folder (jobs/) first on the path, where jobs/features.py would shadow the
# top-level `features` package: import from the project folder instead.
HERE = Path(__file__).resolve().parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != HERE]
sys.path.insert(0, str(HERE.parent))

from jobs.cli import main  # noqa: E402

if __name__ == "__main__":
    sys.exit(main())
