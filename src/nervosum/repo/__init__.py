"""Multi-model serving from a folder or a git repository (``nervosum serve-repo``)."""
