"""Training: datasets (image folders, FER2013's CSV) decoded once, augmentation, the
networks, the training loop, checkpoints and resuming."""
