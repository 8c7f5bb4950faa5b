"""Export: a checkpoint to ONNX, and an ONNX model to int8."""
