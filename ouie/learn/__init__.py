"""Learning ouie's detector: recording groups, feature caches, training and evaluation."""
