"""Trainers: registered through the harness.trainers entry-point group."""
