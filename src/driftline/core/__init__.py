"""Shared vocabulary of every stage: reading, splits, encoding, the model, predictions, explanations, metrics."""
