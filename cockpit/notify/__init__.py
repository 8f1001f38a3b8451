"""Telling someone about a run that nobody is watching: alarms and the run's end, sent to a command
or a webhook by a worker thread, so that a slow or failing receiver never costs a training step.

`message` words an event (one line, and the JSON a receiver gets); `deliver` runs a command or POSTs
to a URL with a timeout; `notifier.Notifier` sits on the run's event stream and decides what to send.
The wing imports only the contract: the engine's process and the Trainer callback use it alike.
"""
