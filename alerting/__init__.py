"""Alerting: anomalies → alerts routed to the metric's named owner by SMS and IM group (issue 11).

A peer of ``streams`` and ``detectors``: it imports only ``runtime`` and
``core``. Its worker subclasses :class:`runtime.worker_shell.Worker` as
``streams.worker.StreamsWorker`` and ``detectors.worker.DetectorsWorker`` do,
takes its own settings section, and is built by ``telewatch.wiring``.
"""
