"""The bottom layer: wire contracts of every topic, series keys, metric definitions, the InfluxDB schema,
masking, durations, the YAML loader and the shared config sections. Imports nothing of telewatch's."""
