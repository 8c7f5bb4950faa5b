"""The `ferkit` command: train, evaluate, predict, explain, video, serve and their kin.

Each subcommand is a module with get_args_parser(add_help=False) and main(args); this file
only mounts them and turns user errors into one `error: ...` line and exit status 2.
"""

from __future__ import annotations

import argparse
import importlib
import sys

from . import __version__
from .errors import FerkitError
from .extras import explain

# subcommand -> (module, one-line help); modules import lazily so `predict` never loads torch.
COMMANDS = {
    "train": ("ferkit.commands.train", "train a model on an image-folder dataset"),
    "evaluate": ("ferkit.commands.evaluate",
                 "report accuracy, F1 and the confusion matrix of a model"),
    "compare": ("ferkit.commands.compare",
                "two or more models on the same faces: is the difference real?"),
    "average": ("ferkit.commands.average",
                "one model from several runs: their weights averaged (a model soup)"),
    "export": ("ferkit.commands.export", "export a checkpoint to ONNX"),
    "calibrate": ("ferkit.commands.calibrate",
                  "fit a temperature so that confidences are probabilities"),
    "predict": ("ferkit.commands.predict", "recognise the expression of every face in images"),
    "crop": ("ferkit.commands.crop",
             "the largest face of every photo in a folder, as a crop to train on"),
    "explain": ("ferkit.commands.explain",
                "show which parts of each face an expression was read from"),
    "video": ("ferkit.commands.video", "faces and expressions over time in a video or webcam"),
    "serve": ("ferkit.commands.serve", "an HTTP API and a web page with the webcam"),
    "info": ("ferkit.commands.info",
             "versions, extras, accelerators: what to paste in a bug report"),
}
# commands whose own extra installs everything they need: a missing module names it
HOME_EXTRAS = {"train": "train", "average": "train", "video": "video", "serve": "serve"}


class Parser(argparse.ArgumentParser):
    """argparse, with a wrong flag or value said in one `error:` line (not a usage block)."""

    def error(self, message: str):
        print(f"error: {self.prog}: {message} (see {self.prog} --help)", file=sys.stderr)
        sys.exit(2)


def one_line_errors(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    """A command's own parser (train.py, predict.py) with Parser's one-line errors."""
    parser.__class__ = Parser
    return parser


def _command_module(name: str):
    module, _ = COMMANDS[name]
    try:
        return importlib.import_module(module)
    except ModuleNotFoundError as e:
        error = _missing_extra(name, e)
        if error is None:
            raise
        raise error from e


def run(command: str, argv: list[str] | None = None) -> int:
    """Parse argv for one subcommand and run it (what train.py and predict.py call)."""
    try:
        module = _command_module(command)
        parser = one_line_errors(module.get_args_parser(add_help=True))
        parser.prog = f"ferkit {command}" if command != "predict" else parser.prog
        return _call(command, module, parser.parse_args(argv))
    except FerkitError as e:
        return _fail(e)


def main(argv: list[str] | None = None) -> int:
    parser = Parser(prog="ferkit", description=__doc__.splitlines()[0])
    parser.add_argument("--version", action="version", version=f"ferkit {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND",
                                parser_class=Parser)
    argv = sys.argv[1:] if argv is None else argv
    chosen = next((a for a in argv if not a.startswith("-")), None)
    try:
        for name, (_, help_text) in COMMANDS.items():
            # Only the chosen subcommand's module is imported (and its parser built).
            own = name == chosen
            parents = [_command_module(name).get_args_parser(add_help=False)] if own else []
            sub.add_parser(name, parents=parents, help=help_text, description=help_text)
        args = parser.parse_args(argv)
        return _call(args.command, _command_module(args.command), args)
    except FerkitError as e:
        return _fail(e)


def _call(command: str, module, args) -> int:
    try:
        result = module.main(args)  # training returns its model: not an exit status
        return result if isinstance(result, int) else 0
    except ModuleNotFoundError as e:  # an extra imported where it is used
        error = _missing_extra(command, e)
        if error is None:
            raise
        return _fail(error)
    except KeyboardInterrupt:
        print("\ninterrupted", file=sys.stderr)
        return 130
    except OSError as e:  # an output folder that is read-only, a full disk, ...
        where = f"{e.filename}: " if e.filename else ""
        return _fail(FerkitError(f"cannot write {where}{e.strerror or e}"))


def _missing_extra(command: str, e: ModuleNotFoundError) -> FerkitError | None:
    return explain(f"`ferkit {command}`", e, HOME_EXTRAS.get(command))


def _fail(e: FerkitError) -> int:
    print(f"error: {e}", file=sys.stderr)
    return 2
