"""Leaderboards: registered through the harness.leaderboards entry-point group."""
