"""`python -m mesos_runtime.sdk.scheduler`: see `main.py`."""

import sys

from .main import main

sys.exit(main())
