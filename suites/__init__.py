"""Suites: registered through the harness.suites entry-point group."""
