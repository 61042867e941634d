"""City acoustic simulator: scenarios, propagation, recording folders."""
