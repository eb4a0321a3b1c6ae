"""ONNX export: `ember.onnx.export(model, "m.onnx")` or `model.export("m.onnx")`.

Sequential and functional models of the layers that have an export rule (see `exportable_layers()`) become an ONNX
graph in opset `OPSET`: inputs named as the model's (`ember.Input(name=...)`; "input" for a Sequential model), each
output named after the layer that makes it, the batch axis dynamic ("batch"), every other size fixed, weights as
initializers. The graph takes and gives tensors in ember's layouts (NHWC images): it transposes to ONNX's NCHW
around convolution and pooling stacks only. Needs the `onnx` package (`pip install "ember[onnx]"`).
"""
import os

from .graph import ExportError
from .export import BATCH, IR_VERSION, OPSET, Exporter
from .registry import exportable_classes
from . import rules_core, rules_conv, rules_recurrent  # noqa: F401  (they register the export rules)


def _require_onnx():
    try:
        import onnx  # noqa: F401
    except ImportError:
        raise ImportError("ONNX export needs the `onnx` package: pip install onnx (or ember[onnx], which adds "
                          "onnxruntime to run the exported model)") from None


def to_onnx(model, input_names=None, output_names=None):
    """The model as an `onnx.ModelProto` (checked by `onnx.checker.check_model`)."""
    _require_onnx()
    return Exporter(model).run(input_names, output_names)


def export(model, path, input_names=None, output_names=None):
    """Write `model` to `path` as an ONNX file; returns the ModelProto. `input_names`/`output_names` override the
    default names (the model's input names; the output layers' names)."""
    proto = to_onnx(model, input_names, output_names)
    with open(os.fspath(path), "wb") as f:
        f.write(proto.SerializeToString())
    return proto


def exportable_layers():
    """The names of the layer classes that have an export rule."""
    return exportable_classes()


__all__ = ["BATCH", "ExportError", "IR_VERSION", "OPSET", "export", "exportable_layers", "to_onnx"]
