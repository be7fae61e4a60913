"""Real services the tests talk to over loopback: a Fluentd forward receiver, PostgreSQL."""
