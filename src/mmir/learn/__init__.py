"""Learning: datasets, training loops and recipes (classification, concept heads, metric learning)."""
