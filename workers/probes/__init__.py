"""Diagnosis probes. A probe never raises for "target down": that is an outcome."""
