"""Input and prediction drift against a reference: the population stability index and
its bins (:mod:`.psi`), a reference profile (:mod:`.profile`) and the rolling window a
server compares against it (:mod:`.window`).

It sits just above ``config``: it knows records and the ``monitoring:`` block, never a
model (a profile's predictions come from a function it is handed), so ``evaluate`` reads
logs and a server watches traffic with the same bins.
"""
