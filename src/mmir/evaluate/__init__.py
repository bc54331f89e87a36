"""Evaluation: pure metric functions, TREC run/qrels I/O and benchmark data loaders."""
