"""``python -m rnnbench``: the Hydra app in rnnbench.cli.

Signals are held first (`rnnbench.session.hold_signals`), before the imports that take a second:
a SIGTERM that arrives while the command starts still ends the run with its summary.
"""

from rnnbench.session import hold_signals

hold_signals()

from rnnbench.cli import main  # noqa: E402

if __name__ == "__main__":
    main()
