"""Runners: registered through the harness.runners entry-point group."""
