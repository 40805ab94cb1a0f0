"""The worker runtime every stage runs on: the faust bulk consumer, changelogged partition state with
versioned snapshots, the outbox and outputs (Kafka, InfluxDB), topic creation and the worker shell.
Imports only ``core``."""
