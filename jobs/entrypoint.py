"""The file spark-submit runs: the `crm` command line inside the session spark-submit created."""

import sys

from jobs.cli import main

if __name__ == "__main__":
    sys.exit(main())
