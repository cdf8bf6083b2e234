"""Monitoring: the run log, ``check`` (monitoring-plugin exit codes, Prometheus gauges),
alerts to webhooks, debug mode and ``doctor``. No UI here; nothing is imported eagerly.

- :mod:`.runlog`: :func:`~.runlog.record_run` around every operation, and
  :func:`~.runlog.history_since` ("what happened on this target since T");
- :mod:`.reading`, :mod:`.checks` and :mod:`.health`: :func:`~.reading.run_checks` →
  :class:`~.health.CheckReport`;
- :mod:`.prometheus`, :mod:`.alerts`, :mod:`.debuglog`, :mod:`.doctor`, :mod:`.config`.
"""
