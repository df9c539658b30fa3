"""The ``ltv`` command line: prepare, evaluate, datasets, models, train, predict, benchmark, demo,
score, target, explain, report, serve, tune.

Each command lives in its own module and only parses its arguments and calls the library; heavy
libraries are imported inside the commands, so ``ltv --help`` stays fast. Every command ends a
bad argument or a bad file with a one-line reason and exit code 2, never a traceback.
"""

from __future__ import annotations

import sys

import typer

from ltvkit.cli import benchmark as _benchmark
from ltvkit.cli import datasets as _datasets
from ltvkit.cli import demo as _demo
from ltvkit.cli import evaluate as _evaluate
from ltvkit.cli import explain as _explain
from ltvkit.cli import models as _models
from ltvkit.cli import predict as _predict
from ltvkit.cli import prepare as _prepare
from ltvkit.cli import report as _report
from ltvkit.cli import score as _score
from ltvkit.cli import serve as _serve
from ltvkit.cli import target as _target
from ltvkit.cli import train as _train
from ltvkit.cli import tune as _tune

app = typer.Typer(add_completion=False, no_args_is_help=True, pretty_exceptions_enable=False,
                  help="ltvkit: customer lifetime value from raw transaction logs.")

for _command in (_prepare.prepare, _evaluate.evaluate, _datasets.datasets, _models.models,
                 _train.train, _predict.predict, _benchmark.benchmark, _demo.demo, _score.score,
                 _target.target, _explain.explain, _report.report, _serve.serve, _tune.tune):
    app.command()(_command)


def main() -> None:
    app()


if __name__ == "__main__":
    sys.exit(main())
