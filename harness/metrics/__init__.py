"""Metrics: execution accuracy, Spider exact match and hardness, BIRD Soft-F1 and VES."""
