"""Everything nervosum knows of a broker: one module per broker (``redis.py``, ``nats.py``,
``kafka.py``) with its stream transport, converge store and admin; the interfaces they
implement (``transport.py``, ``converge.py``, ``admin.py``); addresses (``addresses.py``)
and which module serves which scheme (``schemes.py``)."""
