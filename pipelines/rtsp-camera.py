#!/usr/bin/python3
# SPDX-License-Identifier: MPL-2.0
"""A stand-in RTSP camera: serves a video file in an endless loop, in real time, as H.264 over RTSP.

Usage: rtsp-camera.py [VIDEO] [--address A] [--port N] [--mount /camera] [--mark]

One reader pipeline decodes VIDEO (default data/media/WolfgangLanger_Pexels.mp4) and loops it with
segment seeks (no gap, timestamps keep increasing), paced by the clock like a camera
(`clocksync`). Every client that connects to rtsp://ADDRESS:PORT/MOUNT gets its own encoder
(`x264enc tune=zerolatency`), so its stream starts on a key frame. `--port 0` (the default 8554
otherwise) takes a free port; the address actually served is printed on stderr:

    rtsp-camera: serving rtsp://127.0.0.1:8554/camera

With `--mark`, each frame carries a `simplevideomark` strip in its bottom-left corner (4 sync
blocks then 52 data bits, 8x8 pixels each, most significant bit first, on the luma plane): the
first 20 bits are the frame's position in VIDEO in ms (modulo 2^20), the last 32 the wall-clock
time in ms (modulo 2^32) at which it left the camera. `simplevideomarkdetect` (pattern-width=8
pattern-height=8 pattern-data-count=52), or any reader of those blocks, gets both back downstream:
that is how tests/rtsp.rs measures the end-to-end latency and matches frames with the file.

Debian's python3 with python3-gi and gir1.2-gst-rtsp-server-1.0 (scripts/setup.sh installs them).
Runs until Ctrl-C or SIGTERM.
"""

import argparse
import signal
import sys
import threading
import time
from pathlib import Path

import gi

gi.require_version("Gst", "1.0")
gi.require_version("GstRtspServer", "1.0")
from gi.repository import GLib, Gst, GstRtspServer  # noqa: E402

HERE = Path(__file__).resolve().parent
MARK_BITS_POSITION = 20
MARK_BITS_CLOCK = 32
MARK_BLOCK = 8


def log(text: str) -> None:
    print(f"rtsp-camera: {text}", file=sys.stderr, flush=True)


class Camera:
    """The reader pipeline and the appsrc of every client's media."""

    def __init__(self, video: Path, mark: bool):
        mark_chain = (
            f" ! simplevideomark name=mark pattern-width={MARK_BLOCK} pattern-height={MARK_BLOCK}"
            f" pattern-data-count={MARK_BITS_POSITION + MARK_BITS_CLOCK}"
            if mark
            else ""
        )
        self.reader = Gst.parse_launch(
            "filesrc name=file ! decodebin ! videoconvert ! video/x-raw,format=I420 ! clocksync"
            f"{mark_chain} ! appsink name=out sync=false emit-signals=true max-buffers=2 drop=true"
        )
        self.reader.get_by_name("file").set_property("location", str(video))
        if mark:
            # Stamped right after clocksync released the frame: the moment it was "captured".
            marker = self.reader.get_by_name("mark")
            marker.get_static_pad("sink").add_probe(Gst.PadProbeType.BUFFER, self.on_frame, marker)
        self.reader.get_by_name("out").connect("new-sample", self.on_sample)
        self.lock = threading.Lock()
        self.sources = []  # the appsrc of each client's media
        self.caps = None
        self.looping = False

    @staticmethod
    def on_frame(_pad, info, marker):
        position_ms = max(info.get_buffer().pts, 0) // 1_000_000 % (1 << MARK_BITS_POSITION)
        clock_ms = time.time_ns() // 1_000_000 % (1 << MARK_BITS_CLOCK)
        marker.set_property("pattern-data", position_ms << MARK_BITS_CLOCK | clock_ms)
        return Gst.PadProbeReturn.OK

    def on_sample(self, sink):
        sample = sink.emit("pull-sample")
        if sample is None:
            return Gst.FlowReturn.FLUSHING
        with self.lock:
            self.caps = sample.get_caps()
            sources = list(self.sources)
        for src in sources:
            clock = src.get_clock()
            if clock is None:  # that client's media is not playing yet
                continue
            buffer = sample.get_buffer().copy()  # shares the memory, own timestamps
            buffer.pts = clock.get_time() - src.get_base_time()
            buffer.dts = Gst.CLOCK_TIME_NONE
            if src.get_property("caps") != self.caps:
                src.set_caps(self.caps)
            src.emit("push-buffer", buffer)
        return Gst.FlowReturn.OK

    def add_source(self, src):
        with self.lock:
            if self.caps is not None:
                src.set_caps(self.caps)
            self.sources.append(src)

    def remove_source(self, src):
        with self.lock:
            if src in self.sources:
                self.sources.remove(src)

    def on_message(self, _bus, message, loop):
        if message.type == Gst.MessageType.ASYNC_DONE and not self.looping:
            # Loop without a gap: a segment seek posts SEGMENT_DONE instead of EOS at the end.
            self.looping = True
            self.reader.seek_simple(Gst.Format.TIME, Gst.SeekFlags.FLUSH | Gst.SeekFlags.SEGMENT, 0)
        elif message.type == Gst.MessageType.SEGMENT_DONE:
            self.reader.seek_simple(Gst.Format.TIME, Gst.SeekFlags.SEGMENT, 0)
        elif message.type == Gst.MessageType.EOS:
            log("the reader reached EOS (could not loop)")
            loop.quit()
        elif message.type == Gst.MessageType.ERROR:
            err, debug = message.parse_error()
            log(f"error: {err.message} ({debug})")
            loop.quit()
        return True


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    default = HERE.parent / "data/media/WolfgangLanger_Pexels.mp4"
    parser.add_argument("video", nargs="?", type=Path, default=default, help="video file (default: the sample)")
    parser.add_argument("--address", default="127.0.0.1", help="address to serve on (0.0.0.0: every interface)")
    parser.add_argument("--port", type=int, default=8554, help="RTSP port (0: any free port)")
    parser.add_argument("--mount", default="/camera", help="path of the stream (default /camera)")
    parser.add_argument("--mark", action="store_true", help="stamp each frame with its position and time")
    args = parser.parse_args()
    if not args.video.is_file():
        log(f"cannot read {args.video}")
        return 1

    Gst.init(None)
    camera = Camera(args.video, args.mark)
    loop = GLib.MainLoop()

    factory = GstRtspServer.RTSPMediaFactory()
    factory.set_launch(
        "( appsrc name=src is-live=true format=time max-bytes=0 max-buffers=2 leaky-type=downstream ! videoconvert"
        " ! x264enc tune=zerolatency speed-preset=ultrafast key-int-max=30"
        " ! rtph264pay name=pay0 pt=96 config-interval=-1 )"
    )

    def on_media(_factory, media):
        src = media.get_element().get_by_name("src")
        camera.add_source(src)
        media.connect("unprepared", lambda _media: camera.remove_source(src))

    factory.connect("media-configure", on_media)
    server = GstRtspServer.RTSPServer()
    server.set_address(args.address)
    server.set_service(str(args.port))
    server.get_mount_points().add_factory(args.mount, factory)
    if server.attach(None) == 0:
        log(f"cannot listen on port {args.port}")
        return 1

    bus = camera.reader.get_bus()
    bus.add_signal_watch()
    bus.connect("message", camera.on_message, loop)
    if camera.reader.set_state(Gst.State.PLAYING) == Gst.StateChangeReturn.FAILURE:
        log("the reader pipeline failed to start")
        return 1
    for sig in (signal.SIGINT, signal.SIGTERM):
        GLib.unix_signal_add(GLib.PRIORITY_DEFAULT, sig, lambda: loop.quit() or False)
    log(f"serving rtsp://{args.address}:{server.get_bound_port()}{args.mount}")
    loop.run()
    camera.reader.set_state(Gst.State.NULL)
    return 0


if __name__ == "__main__":
    sys.exit(main())
