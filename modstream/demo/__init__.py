"""`modstream demo`: the whole loop on one machine, offline (command.py tells the story).

    command.py   the command: arguments, the story's steps in order, Ctrl-C
    plan.py      how big a run is (`--quick` or the full story)
    data.py      the demo's synthetic world: posts, images, truth, the blind spot
    stack.py     the child processes and the loopback image server
    steps.py     the steps: broker, first model, streaming, feedback, hot swap
    collect.py   results and dead letters read back, and the summary figures
    view.py      the terminal output (tables, notes, `DEMO ` lines)
    keep.py      `--keep`: the review console on the still-running stack
    trainer.py   `python -m modstream.demo.trainer`: the trainer service bounded to one training

The `modstream` command loads this package as the `demo` subcommand, so it exposes `add_arguments`
and `run` from command.py.
"""

from modstream.demo.command import add_arguments, run

__all__ = ["add_arguments", "run"]
