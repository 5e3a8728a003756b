"""Regenerate the hostile-input corpus beside this file (the files are committed; run this
only to change them): ``.venv/bin/python tests/data/bad/make_corpus.py``.

onnx/   malformed ONNX models: not ONNX at all, truncated, empty graph, a Conv whose weight
        is not known, a kernel larger than its input, zero / negative dims, an unknown op
        as the only layer, a cyclic graph.
config/ hardware configs with missing, negative, NaN, string-typed or absurd values, and
        files that are not a JSON object.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[2]
sys.path.insert(0, str(REPO))

from tests.onnx_builders import G, small_resnet  # noqa: E402

FLOAT = TensorProto.FLOAT


def good_model() -> onnx.ModelProto:
    g = G(opset=17)
    small_resnet(g)
    return g.model()


def _conv_model(x_dims, w_dims, *, weight: bool = True) -> onnx.ModelProto:
    x = helper.make_tensor_value_info("x", FLOAT, list(x_dims))
    y = helper.make_tensor_value_info("y", FLOAT, None)
    inits = [numpy_helper.from_array(np.zeros(w_dims, np.float32), "w")] if weight else []
    node = helper.make_node("Conv", ["x", "w"], ["y"], name="conv0")
    graph = helper.make_graph([node], "bad", [x], [y], initializer=inits)
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], ir_version=8)


def onnx_corpus() -> dict[str, bytes]:
    good = good_model().SerializeToString()
    out = {
        "empty.onnx": b"",
        "text.onnx": b"this is not an onnx model\n",
        "json.onnx": json.dumps({"layers": []}).encode(),
        "truncated.onnx": good[: len(good) // 2],
        "random_bytes.onnx": bytes(np.random.default_rng(0).integers(0, 256, 4096, dtype=np.uint8)),
    }
    empty_graph = helper.make_model(helper.make_graph([], "empty", [], []),
                                    opset_imports=[helper.make_opsetid("", 17)], ir_version=8)
    out["empty_graph.onnx"] = empty_graph.SerializeToString()
    out["conv_weight_missing.onnx"] = _conv_model([1, 3, 32, 32], [8, 3, 3, 3], weight=False).SerializeToString()
    out["kernel_larger_than_input.onnx"] = _conv_model([1, 3, 4, 4], [8, 3, 7, 7]).SerializeToString()
    out["zero_channels.onnx"] = _conv_model([1, 0, 32, 32], [8, 0, 3, 3]).SerializeToString()
    out["negative_dim.onnx"] = _conv_model([1, 3, -32, 32], [8, 3, 3, 3]).SerializeToString()
    out["channel_mismatch.onnx"] = _conv_model([1, 3, 32, 32], [8, 5, 3, 3]).SerializeToString()
    x = helper.make_tensor_value_info("x", FLOAT, [1, 3, 32, 32])
    y = helper.make_tensor_value_info("y", FLOAT, None)
    unknown = helper.make_graph([helper.make_node("FrobnicateConv", ["x"], ["y"], domain="com.example")],
                                "unknown", [x], [y])
    out["unknown_op_only.onnx"] = helper.make_model(
        unknown, opset_imports=[helper.make_opsetid("", 17), helper.make_opsetid("com.example", 1)],
        ir_version=8).SerializeToString()
    cyc = helper.make_graph([helper.make_node("Add", ["x", "b"], ["a"], name="add"),
                             helper.make_node("Relu", ["a"], ["b"], name="relu")], "cycle", [x],
                            [helper.make_tensor_value_info("b", FLOAT, None)])
    out["cyclic.onnx"] = helper.make_model(cyc, opset_imports=[helper.make_opsetid("", 17)],
                                           ir_version=8).SerializeToString()
    return out


def _config() -> dict:
    return json.loads((REPO / "configs" / "pimsyn_date24.json").read_text())


def config_corpus() -> dict[str, str]:
    out: dict[str, str] = {}

    def put(name: str, data) -> None:
        out[name] = json.dumps(data, indent=1) if not isinstance(data, str) else data

    c = _config(); del c["RRAM"]; put("missing_rram.json", c)
    c = _config(); del c["weight_res"]; put("missing_weight_res.json", c)
    c = _config(); c["data_res"] = -16; put("negative_data_res.json", c)
    c = _config(); c["noc_power"] = -0.1; put("negative_noc_power.json", c)
    c = _config(); c["memory_bw"] = "1024"; put("string_memory_bw.json", c)
    c = _config(); c["weight_res"] = True; put("bool_weight_res.json", c)
    c = _config(); c["vfu_width"] = 10 ** 30; put("absurd_vfu_width.json", c)
    c = _config(); c["weight_res"] = 4096; put("absurd_weight_res.json", c)
    first = next(iter(_config()["RRAM"]))
    c = _config(); c["RRAM"][first]["latency"] = -100.0; put("negative_rram_latency.json", c)
    c = _config(); c["RRAM"][first]["area_mm2"] = "big"; put("string_rram_area.json", c)
    # NaN is not JSON, but Python's json (and many writers) produce it
    c = _config(); c["noc_bw"] = float("nan"); out["nan_noc_bw.json"] = json.dumps(c, indent=1)
    c = _config(); c["RRAM"][first]["static_power"] = float("inf")
    out["inf_rram_static_power.json"] = json.dumps(c, indent=1)
    put("not_json.json", "{ this is not json")
    put("list.json", [1, 2, 3])
    put("empty.json", "")
    return out


def main() -> None:
    (HERE / "onnx").mkdir(exist_ok=True)
    (HERE / "config").mkdir(exist_ok=True)
    for name, data in onnx_corpus().items():
        (HERE / "onnx" / name).write_bytes(data)
    for name, text in config_corpus().items():
        (HERE / "config" / name).write_text(text)


if __name__ == "__main__":
    main()
