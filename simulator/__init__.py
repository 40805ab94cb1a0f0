"""Labelled telecom traffic simulator: calls, SMS, network KPIs and complaints, with ground truth.

It produces the four input event types of ``core.contracts`` as JSON payloads,
deterministically for a seed, a start time and its settings, with injected
incidents (``incidents.jsonl``) and injected bad events (``faults.jsonl``).

- ``Simulator(settings, start).ticks(until)``: the synchronous generator of ``Tick``s.
- ``run_simulation(settings, sink, start, duration_s, progress, stop)``: the async run
  loop into a ``FileSink``, ``KafkaSink`` or ``NullSink``; returns ``Stats``.
"""

from simulator.engine import Simulator
from simulator.kafka_sink import KafkaSink
from simulator.records import FaultRecord, IncidentRecord
from simulator.run import run_simulation
from simulator.settings import SimulatorSettings
from simulator.sinks import FileSink, NullSink, Sink
from simulator.stats import Stats
from simulator.tick import Batch, Message, Tick

__all__ = [
    "Batch",
    "FaultRecord",
    "FileSink",
    "IncidentRecord",
    "KafkaSink",
    "Message",
    "NullSink",
    "Simulator",
    "SimulatorSettings",
    "Sink",
    "Stats",
    "Tick",
    "run_simulation",
]
