"""The speech API providers sttwatch can watch, one package each.

A provider package holds its probe implementations and wire details and
exports a :class:`monitor.probes.Provider` as ``PROVIDER``; it is registered
by one line in ``monitor.probes.registry.BUILTIN_PROVIDERS``
(docs/extending.md).
"""
