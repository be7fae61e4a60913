"""The prediction log: one record per prediction (and per failed request), written to
files, databases or Fluentd by background writers, never on the request path."""
