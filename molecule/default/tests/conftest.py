"""The testinfra checks run these checks with the repository on sys.path (for tests/ansible)."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[3]))
