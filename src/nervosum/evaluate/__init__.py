"""`nervosum evaluate`: logged predictions joined with ground truth, measured and drawn."""
