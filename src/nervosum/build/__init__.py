"""`nervosum build`: bundles (code, pinned wheels, Dockerfile, manifest) and OCI images."""
