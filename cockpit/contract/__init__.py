"""The contract: plain data that every other wing speaks (events, commands, enums, the event stream,
RunConfig, errors). It imports nothing else of cockpit, so a journal reader, the UI and a test can
use it without torch."""
