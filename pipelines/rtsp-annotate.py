#!/usr/bin/python3
# SPDX-License-Identifier: MPL-2.0
"""Annotates an RTSP camera live and serves the annotated video over RTSP, plus JSON lines.

Usage: rtsp-annotate.py CAMERA_URL [--address A] [--port N] [--mount /annotated] [--json FILE|-]
                        [--latency MS] [--protocols tcp|udp|...] [--inference-interval N]
                        [--retry S] [--stall-timeout S]

    camera: rtspsrc ! decodebin ! videoconvert ! video/x-raw,format=BGRx      (a bin, restartable)
        ! faceexpression ! analyticsjson location=FILE ! expressionoverlay ! videoconvert
        ! x264enc tune=zerolatency ! appsink          -> appsrc ! h264parse ! rtph264pay (gst-rtsp-server)

The annotated stream is served at rtsp://ADDRESS:PORT/MOUNT (default 127.0.0.1, 8555 and
/annotated; `--address 0.0.0.0` serves every interface, `--port 0` takes any free port), one
shared H.264 stream for every client, and each frame's faces are written as JSON lines to FILE
(default faces.jsonl; `-` = stdout). Status goes to stderr:

    rtsp-annotate: serving rtsp://127.0.0.1:8555/annotated
    rtsp-annotate: camera connected (connection 1)
    rtsp-annotate: camera lost (Could not read from resource.), reconnecting in 1 s

A camera that drops and comes back: the camera's part of the pipeline (rtspsrc and its decoder)
is a bin that is thrown away and rebuilt when rtspsrc posts an error, sends EOS, or no frame came
for --stall-timeout seconds (a camera that hangs without closing the connection); while the camera
stays away it is retried every --retry seconds. The analysis and the served stream keep running
meanwhile (clients see the last frame until frames come again). The new bin's first event is a new
stream-start, on which faceexpression resets its tracks: track ids start again at 1 and `frames`
counts from the face's first frame, as in a new stream.

The sink syncs to the clock with QoS: frames that are late (an overloaded machine) skip the
detector in faceexpression (the tracker carries the boxes) rather than falling further behind,
and the decoder and the converters drop frames that are later still; every 10 s, stderr says how
many were dropped so far, and by which element.
End-to-end latency is about --latency (rtspsrc's jitter buffer, default 200 ms) plus the
processing of one frame; README.md gives the figure that tests/rtsp.rs measured.

Debian's python3 with python3-gi and gir1.2-gst-rtsp-server-1.0 (scripts/setup.sh installs them).
GST_PLUGIN_PATH defaults to the repository's target/debug. Runs until Ctrl-C or SIGTERM (then
writes out the JSON lines and exits 0); exits 1 on an error outside the camera's part.
"""

import argparse
import os
import signal
import sys
import threading
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
os.environ.setdefault("GST_PLUGIN_PATH", str(HERE.parent / "target/debug"))

import gi  # noqa: E402 (GST_PLUGIN_PATH must be set before GStreamer starts)

gi.require_version("Gst", "1.0")
gi.require_version("GstVideo", "1.0")
gi.require_version("GstRtspServer", "1.0")
from gi.repository import GLib, Gst, GstRtspServer, GstVideo  # noqa: E402


def log(text: str) -> None:
    print(f"rtsp-annotate: {text}", file=sys.stderr, flush=True)


def quote(value: str) -> str:
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


class Annotator:
    def __init__(self, args, loop):
        self.args = args
        self.loop = loop
        self.status = 0
        # Everything after the camera: built once, runs for the whole session.
        self.pipeline = Gst.parse_launch(
            f"faceexpression name=analysis inference-interval={args.inference_interval}"
            f" ! analyticsjson location={quote(args.json)}"
            " ! expressionoverlay ! videoconvert ! video/x-raw,format=I420"
            " ! x264enc tune=zerolatency speed-preset=ultrafast key-int-max=30"
            " ! appsink name=out sync=true qos=true async=false emit-signals=true"
        )
        self.analysis = self.pipeline.get_by_name("analysis")
        self.out = self.pipeline.get_by_name("out")
        self.out.connect("new-sample", self.on_sample)
        self.lock = threading.Lock()
        self.served = []  # the appsrc of each media that clients watch
        self.camera = None  # the current camera bin
        self.connections = 0
        self.streaming = False
        self.last_frame = time.monotonic()
        self.reconnect_pending = False
        self.stopping = False
        self.dropped = {}  # element name -> frames it dropped as too late (its QoS messages)
        self.reported = 0

    # --- the camera bin -------------------------------------------------------------------

    def connect_camera(self):
        """(Re)builds the camera bin and links it to faceexpression."""
        self.reconnect_pending = False
        if self.stopping:
            return False
        self.drop_camera()
        a = self.args
        camera = Gst.parse_bin_from_description(
            f"rtspsrc location={quote(a.camera)} latency={a.latency} protocols={a.protocols}"
            " ! decodebin ! videoconvert ! capsfilter name=frames caps=video/x-raw,format=BGRx",
            False,  # rtspsrc's and decodebin's pads come later: ghost only the bin's output
        )
        camera.add_pad(Gst.GhostPad.new("src", camera.get_by_name("frames").get_static_pad("src")))
        # decodebin changes state asynchronously, until the camera's caps are known: the bin
        # completes that by itself, else the whole pipeline would wait (PAUSED) for a camera
        # that may never answer.
        camera.set_property("async-handling", True)
        self.connections += 1
        camera.set_name(f"camera{self.connections}")
        camera.get_static_pad("src").add_probe(
            Gst.PadProbeType.BUFFER | Gst.PadProbeType.EVENT_DOWNSTREAM, self.on_camera_data, self.connections
        )
        self.streaming = False
        self.last_frame = time.monotonic()
        self.pipeline.add(camera)
        camera.link(self.analysis)
        self.camera = camera
        camera.sync_state_with_parent()
        return False

    def drop_camera(self):
        if self.camera is not None:
            old, self.camera = self.camera, None
            old.set_state(Gst.State.NULL)
            self.pipeline.remove(old)  # also unlinks it from faceexpression

    def on_camera_data(self, _pad, info, connection):
        """Streaming thread: notes frames, turns the camera's EOS into a reconnection."""
        if connection != self.connections or self.reconnect_pending:
            return Gst.PadProbeReturn.DROP  # the last of a connection given up
        if info.type & Gst.PadProbeType.BUFFER:
            self.last_frame = time.monotonic()
            if not self.streaming:
                self.streaming = True
                log(f"camera connected (connection {connection})")
            return Gst.PadProbeReturn.OK
        if info.get_event().type == Gst.EventType.EOS and not self.stopping:
            GLib.idle_add(self.camera_lost, "end of stream", connection)
            return Gst.PadProbeReturn.DROP  # the analysis goes on with the next connection
        return Gst.PadProbeReturn.OK

    def camera_lost(self, why, connection=None):
        if connection not in (None, self.connections):
            return False  # about a connection already given up
        if not self.reconnect_pending and not self.stopping:
            self.reconnect_pending = True
            self.streaming = False
            # Gone at once: what the old connection still holds is not mixed into the next one.
            self.drop_camera()
            log(f"camera lost ({why}), reconnecting in {self.args.retry:g} s")
            GLib.timeout_add(int(self.args.retry * 1000), self.connect_camera)
        return False

    def check_stall(self):
        idle = time.monotonic() - self.last_frame
        if not self.reconnect_pending and not self.stopping and idle > self.args.stall_timeout:
            self.camera_lost(f"no frame for {idle:.0f} s")
        return True

    def in_camera(self, obj):
        """Whether obj is inside the current camera bin (None: inside an old one, or gone)."""
        while obj is not None:
            if obj is self.camera:
                return True
            if obj is self.pipeline:
                return False
            obj = obj.get_parent()
        return None

    # --- the served stream ----------------------------------------------------------------

    def on_sample(self, sink):
        sample = sink.emit("pull-sample")
        if sample is None:
            return Gst.FlowReturn.FLUSHING
        with self.lock:
            served = list(self.served)
        for src in served:
            clock = src.get_clock()
            if clock is None:  # not playing yet
                continue
            buffer = sample.get_buffer().copy()  # shares the memory, own timestamps
            buffer.pts = clock.get_time() - src.get_base_time()
            buffer.dts = Gst.CLOCK_TIME_NONE
            if src.get_property("caps") != sample.get_caps():
                src.set_caps(sample.get_caps())
            src.emit("push-buffer", buffer)
        return Gst.FlowReturn.OK

    def on_media(self, _factory, media):
        src = media.get_element().get_by_name("src")
        with self.lock:
            self.served.append(src)
        media.connect("unprepared", self.on_media_gone, src)

    def on_client(self, _server, client):
        client.connect("play-request", self.request_key_frame)

    def request_key_frame(self, *_args):
        """A viewer that starts playing gets a key frame now, not at the next periodic one."""
        self.out.send_event(GstVideo.video_event_new_upstream_force_key_unit(Gst.CLOCK_TIME_NONE, True, 0))

    def on_media_gone(self, _media, src):
        with self.lock:
            if src in self.served:
                self.served.remove(src)

    # --- bus and lifetime -----------------------------------------------------------------

    def on_message(self, _bus, message):
        t = message.type
        if t == Gst.MessageType.ERROR:
            err, debug = message.parse_error()
            where = self.in_camera(message.src)
            if where:
                self.camera_lost(err.message)
            elif where is False:
                log(f"error from {message.src.get_name()}: {err.message} ({debug})")
                self.status = 1
                self.loop.quit()
        elif t == Gst.MessageType.WARNING and self.in_camera(message.src) is not None:
            err, _debug = message.parse_warning()
            log(f"warning from {message.src.get_name()}: {err.message}")
        elif t == Gst.MessageType.QOS:
            fmt, _processed, dropped = message.parse_qos_stats()
            if fmt == Gst.Format.BUFFERS:
                self.dropped[message.src.get_name()] = dropped
        elif t == Gst.MessageType.LATENCY:
            self.pipeline.recalculate_latency()
        elif t == Gst.MessageType.EOS:
            self.loop.quit()
        return True

    def report_drops(self):
        """Every 10 s, if frames were dropped as too late (QoS): how many, and where."""
        total = sum(self.dropped.values())
        if total > self.reported:
            self.reported = total
            where = ", ".join(f"{name} {n}" for name, n in sorted(self.dropped.items()) if n)
            log(f"{total} late frames dropped so far (QoS: {where})")
        return True

    def stop(self):
        """Ends the JSON lines cleanly: EOS into the analysis (the camera may be away)."""
        if self.stopping:
            return False
        self.stopping = True
        log("stopping")
        threading.Thread(
            target=lambda: self.analysis.get_static_pad("sink").send_event(Gst.Event.new_eos()), daemon=True
        ).start()
        GLib.timeout_add_seconds(5, lambda: self.loop.quit() or False)
        return False


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("camera", help="the camera's rtsp:// URL")
    parser.add_argument("--address", default="127.0.0.1", help="address to serve on (0.0.0.0: every interface)")
    parser.add_argument("--port", type=int, default=8555, help="RTSP port to serve on (0: any free port)")
    parser.add_argument("--mount", default="/annotated", help="path of the served stream")
    parser.add_argument("--json", default="faces.jsonl", help="JSON lines file (- = stdout)")
    parser.add_argument("--latency", type=int, default=200, help="rtspsrc jitter buffer, ms")
    parser.add_argument("--protocols", default="tcp", help="rtspsrc protocols (default tcp)")
    parser.add_argument("--inference-interval", type=int, default=1, help="run the detector every N frames")
    parser.add_argument("--retry", type=float, default=1.0, help="seconds between reconnection attempts")
    parser.add_argument("--stall-timeout", type=float, default=5.0, help="reconnect after S seconds without a frame")
    args = parser.parse_args()

    Gst.init(None)
    if Gst.ElementFactory.find("faceexpression") is None:
        log(f"no faceexpression element: build the plugin or set GST_PLUGIN_PATH (now {os.environ['GST_PLUGIN_PATH']})")
        return 1
    loop = GLib.MainLoop()
    annotator = Annotator(args, loop)

    factory = GstRtspServer.RTSPMediaFactory()
    factory.set_launch(
        "( appsrc name=src is-live=true format=time max-bytes=0 max-buffers=60 leaky-type=downstream"
        " ! h264parse ! rtph264pay name=pay0 pt=96 config-interval=-1 )"
    )
    factory.set_shared(True)
    factory.connect("media-configure", annotator.on_media)
    server = GstRtspServer.RTSPServer()
    server.set_address(args.address)
    server.set_service(str(args.port))
    server.get_mount_points().add_factory(args.mount, factory)
    server.connect("client-connected", annotator.on_client)
    if server.attach(None) == 0:
        log(f"cannot listen on port {args.port}")
        return 1

    bus = annotator.pipeline.get_bus()
    bus.add_signal_watch()
    bus.connect("message", annotator.on_message)
    if annotator.pipeline.set_state(Gst.State.PLAYING) == Gst.StateChangeReturn.FAILURE:
        msg = bus.pop_filtered(Gst.MessageType.ERROR)
        log(msg.parse_error()[0].message if msg else "the pipeline failed to start")
        return 1
    log(f"serving rtsp://{args.address}:{server.get_bound_port()}{args.mount}")
    annotator.connect_camera()
    GLib.timeout_add(500, annotator.check_stall)
    GLib.timeout_add_seconds(10, annotator.report_drops)
    for sig in (signal.SIGINT, signal.SIGTERM):
        GLib.unix_signal_add(GLib.PRIORITY_DEFAULT, sig, annotator.stop)
    loop.run()
    annotator.pipeline.set_state(Gst.State.NULL)
    return annotator.status


if __name__ == "__main__":
    sys.exit(main())
