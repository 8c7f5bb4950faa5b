"""Run by torchrun in test_training: trains, then saves this rank's final weights."""

import os
import sys

import torch

from ferkit.commands.train import get_args_parser
from ferkit.training.loop import main

out = sys.argv[1]
model = main(get_args_parser().parse_args(sys.argv[2:]))
torch.save(model.state_dict(), out.format(rank=os.environ["RANK"]))
