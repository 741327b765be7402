#!/usr/bin/env python3
# SPDX-License-Identifier: MPL-2.0
"""Give a Piper VITS voice a second output: each phoneme id's duration in frames.

Usage: piper-add-durations.py [--no-config] IN.onnx OUT.onnx

A Piper voice computes each input id's length in decoder frames before it decodes any audio: the
output of the graph's only `Ceil` node (`/Ceil_output_0` in voices exported by piper's training
code), float [1, 1, T], one value per input id. This adds that tensor as a second graph output,
named as it is, after the audio output `output`. Nothing else changes: same nodes, same weights,
the same audio sample for sample. The neuraltts elements use it for word and viseme marks (sum of
the frames × hop length = number of samples; the hop length is derived from each run).

Unless --no-config is given, the voice configuration (IN.onnx.json, piper's convention) is copied
to OUT.onnx.json, so that OUT.onnx is a voice of its own. IN is never modified (OUT must differ).
Needs the `onnx` package only (pip install onnx). No network. The output is byte-reproducible.
"""

import argparse
import shutil
import sys
from pathlib import Path

try:
    import onnx
except ImportError:  # pragma: no cover - environment problem
    print("piper-add-durations: error: missing Python package 'onnx' (pip install onnx)",
          file=sys.stderr)
    sys.exit(2)

AUDIO = "output"


def fail(msg: str) -> None:
    print(f"piper-add-durations: error: {msg}", file=sys.stderr)
    sys.exit(1)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("input", type=Path)
    ap.add_argument("output", type=Path)
    ap.add_argument("--no-config", action="store_true",
                    help="do not copy IN.onnx.json to OUT.onnx.json")
    args = ap.parse_args()
    if args.input.resolve() == args.output.resolve():
        fail("OUT must not be IN: the original voice is never overwritten")
    model = onnx.load(str(args.input))
    graph = model.graph
    outputs = [o.name for o in graph.output]
    if AUDIO not in outputs:
        fail(f"{args.input}: no output {AUDIO!r}: not a Piper voice (outputs: {outputs})")
    ceils = [n for n in graph.node if n.op_type == "Ceil"]
    if len(ceils) != 1:
        fail(f"{args.input}: {len(ceils)} Ceil nodes, expected exactly one (the durations)")
    name = ceils[0].output[0]
    if name in outputs:
        print(f"piper-add-durations: {args.input} already has output {name!r}; copied as it is")
    else:
        graph.output.append(onnx.helper.make_tensor_value_info(
            name, onnx.TensorProto.FLOAT, [1, 1, "phonemes"]))
    onnx.checker.check_model(model)
    args.output.parent.mkdir(parents=True, exist_ok=True)
    onnx.save(model, str(args.output))
    if not args.no_config:
        config = Path(str(args.input) + ".json")
        if config.is_file():
            shutil.copyfile(config, str(args.output) + ".json")
        else:
            print(f"piper-add-durations: warning: no {config}: copy the voice's configuration "
                  f"to {args.output}.json yourself", file=sys.stderr)
    print(f"piper-add-durations: {args.output}: outputs {AUDIO!r} and {name!r}")


if __name__ == "__main__":
    main()
