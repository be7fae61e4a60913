"""`nervosum run`: start a registered bundle, in an isolated environment or a container."""
