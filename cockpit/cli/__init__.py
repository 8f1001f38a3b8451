"""The command line and the processes around a run: arguments (`main`), the headless and in-app
launchers, the detached trainer and its clients (`attach`), `cockpit runs`, and torchrun's ranks."""
