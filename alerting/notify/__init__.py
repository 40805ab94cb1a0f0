"""Notifiers: one module per channel (SMS gateways, IM-group robots), all with the :class:`~alerting.notify.base.Notifier` interface."""
