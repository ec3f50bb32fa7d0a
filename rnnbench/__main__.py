"""``python -m rnnbench``: the Hydra app in rnnbench.cli."""

from rnnbench.cli import main

if __name__ == "__main__":
    main()
