"""Serving: the inference log behind the BentoML service, and the late labels joined into it."""
