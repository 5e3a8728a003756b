"""What each ONNX op is to the accelerator model.

* compute: becomes a layer (Conv, Gemm, MatMul with a constant 2-D weight, pools, and
  element-wise Add/Sum/Mul/Sub of two or more activations);
* charged: Relu and Sigmoid, which PIMSYN runs as an ALU op of the producing layer;
* fused: folded into the producing layer at no cost (BatchNorm, LRN, Clip, ..., and
  Add/Sub/Mul/Div of an activation with a constant: a bias or a scale);
* routing: moves or relabels data without compute (Reshape, Concat, Transpose, Pad, ...).

Nodes whose inputs are all static (weights, shape arithmetic) are not on the data path and
are never classified: whatever op computes a weight or a Reshape target costs nothing here.
"""

from __future__ import annotations

import onnx

MS_DOMAIN = "com.microsoft"

POOL_OPS = {
    "MaxPool": "max", "AveragePool": "avg", "GlobalAveragePool": "avg", "GlobalMaxPool": "max",
    "ReduceMean": "avg", "ReduceMax": "max", "QLinearAveragePool": "avg", "QLinearGlobalAveragePool": "avg",
}
MVM_OPS = {"Conv": "conv", "QLinearConv": "conv", "Gemm": "fc", "MatMul": "fc", "QLinearMatMul": "fc"}
ELTWISE_OPS = frozenset({"Add", "Sum", "Mul", "Sub", "QLinearAdd", "QLinearMul"})
CHARGED = {"Relu": "relu", "Sigmoid": "sigmoid", "QLinearSigmoid": "sigmoid"}
FUSED = {
    "BatchNormalization": "batchnorm", "LayerNormalization": "layernorm", "LRN": "lrn", "Clip": "clip", "Tanh": "tanh",
    "LeakyRelu": "leakyrelu", "QLinearLeakyRelu": "leakyrelu", "HardSigmoid": "hardsigmoid",
    "HardSwish": "hardswish", "PRelu": "prelu", "Elu": "elu", "Selu": "selu", "Celu": "celu",
    "Softplus": "softplus", "Softsign": "softsign", "Mish": "mish", "Gelu": "gelu",
    "ThresholdedRelu": "thresholdedrelu",
}
# An element-wise op with exactly one activation operand is a bias or a scale.
AFFINE = {"Add": "bias", "Sub": "bias", "Sum": "bias", "Mul": "scale", "Div": "scale", "QLinearAdd": "bias", "QLinearMul": "scale"}
ROUTING = frozenset(
    {
        "Flatten", "Reshape", "Transpose", "Squeeze", "Unsqueeze", "Dropout", "Identity", "Softmax",
        "LogSoftmax", "Pad", "Concat", "Cast", "Slice", "Split", "Gather", "QuantizeLinear",
        "DequantizeLinear", "QLinearConcat",
    }
)
# Only meaningful on static tensors (shape computations and weight generators).
STATIC_ONLY = frozenset({"Constant", "ConstantOfShape", "Shape", "Size"})
# Contrib ops of onnxruntime's quantizer, accepted from the com.microsoft domain only.
MS_OPS = frozenset(
    {"QLinearAdd", "QLinearMul", "QLinearConcat", "QLinearAveragePool", "QLinearGlobalAveragePool", "QLinearSigmoid", "QLinearLeakyRelu"}
)

SUPPORTED = sorted(set(POOL_OPS) | set(MVM_OPS) | ELTWISE_OPS | set(CHARGED) | set(FUSED) | set(AFFINE) | ROUTING | STATIC_ONLY)


def op_key(node: onnx.NodeProto) -> str | None:
    """The op name this module knows the node by, or None if it is not supported."""
    domain = node.domain or ""
    if node.op_type in MS_OPS:
        return node.op_type if domain == MS_DOMAIN else None
    if domain not in ("", "ai.onnx"):
        return None
    return node.op_type if node.op_type in SUPPORTED else None


def op_display(node: onnx.NodeProto) -> str:
    domain = node.domain or ""
    return f"{domain}::{node.op_type}" if domain not in ("", "ai.onnx") else node.op_type


def data_slots(node: onnx.NodeProto) -> list[int]:
    """Input positions that carry activations (the rest are weights, scales, shapes)."""
    n = len(node.input)
    op = node.op_type
    if op in ("QLinearAdd", "QLinearMul"):
        return [0, 3]
    if op == "QLinearConcat":
        return list(range(2, n, 3))
    if op in ("Concat", "Sum", "Add", "Mul", "Sub", "Div"):
        return list(range(n))
    return [0]


def weight_slot(op: str) -> int:
    return 3 if op in ("QLinearConv", "QLinearMatMul") else 1
