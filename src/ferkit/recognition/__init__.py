"""Recognition: the recogniser (ferkit.load), the bundled models, the preprocessing the
classifier was trained with, calibration, explanation, and the ONNX/PyTorch backends."""
