"""Notebooks -> service: run a repository's stage notebooks in a kernel, serve their stages."""
