"""Monitoring beyond data drift: realised and estimated performance, attribution and fairness drift, alerts."""
