"""The cockpit's Textual UI. It knows events and commands only: nothing here touches a tensor.

`CockpitApp` (cockpit.ui.app) is the app, `RunControl` and `ExampleRow` (cockpit.contract.control)
are what it needs from a live run, and `start_journal_reader` (cockpit.ui.replay) feeds it a journal.
"""
