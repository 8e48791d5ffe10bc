"""Monitoring's analysis: drift of the data, the answers, the attributions and fairness, performance realised and
estimated, and the alert rules; frames and a baseline in, a summary out (orchestration.monitor writes it)."""
