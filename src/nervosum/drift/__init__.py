"""Input and prediction drift against a reference: the population stability index and
its bins (:mod:`.psi`), a reference profile (:mod:`.profile`) and the rolling window a
server compares against it (:mod:`.window`).

The bins and the window know records and the ``monitoring:`` block only, so
``evaluate`` reads logs and a server watches traffic with the same bins; making a profile
runs the model (an engine, or the server's model thread through a function it is handed).
"""
