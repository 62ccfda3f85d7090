"""Train-then-score harness for Text-to-SQL and code generation."""

from __future__ import annotations

__version__ = "0.1.0"
SCHEMA_VERSION = 1
