"""``python -m tiledet``: the command line (used by ``tiledet demo`` to run each step in its own process)."""

from tiledet.cli import run

if __name__ == "__main__":
    run()
