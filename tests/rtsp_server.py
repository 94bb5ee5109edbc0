"""A looping RTSP test server (GStreamer rtsp-server); run it with the SYSTEM python3 (needs gi).

    /usr/bin/python3 tests/rtsp_server.py --port 8554 --mount cam1=clip.mp4 --mount cam2=other.mp4

``--tls CERT KEY`` (PEM files) serves RTSP over TLS instead: ``rtsps://127.0.0.1:PORT/NAME``.

Each ``--mount NAME=FILE`` (an MP4 holding H.264 without B-frames) is served at
``rtsp://127.0.0.1:PORT/NAME`` forever: a feeder pipeline demuxes the file at its own frame
rate and seeks back to the start at its end; its access units are pushed, without
re-encoding, into the ``appsrc`` of every client's media. Prints ``READY <port>`` once
listening. Debian packages: python3-gi gir1.2-gst-rtsp-server-1.0 gstreamer1.0-plugins-base
gstreamer1.0-plugins-good gstreamer1.0-plugins-bad.
"""

from __future__ import annotations

import argparse
import signal
import sys
import threading

import gi

gi.require_version("Gst", "1.0")
gi.require_version("GstRtspServer", "1.0")
from gi.repository import Gio, GLib, Gst, GstRtspServer  # noqa: E402

CAPS = "video/x-h264,stream-format=byte-stream,alignment=au"


class LoopingFeeder:
    """Plays one file in a loop at real time and copies its H.264 access units to attached appsrcs."""

    def __init__(self, path: str) -> None:
        self.pipeline = Gst.parse_launch(
            f'filesrc location="{path}" ! qtdemux ! h264parse config-interval=-1 ! {CAPS} '
            "! appsink name=sink sync=true emit-signals=true max-buffers=2 drop=false"
        )
        self.pipeline.get_by_name("sink").connect("new-sample", self._on_sample)
        self.pipeline.get_bus().add_signal_watch()
        self.pipeline.get_bus().connect("message", self._on_message)
        self._lock = threading.Lock()
        self._clients: dict[int, list] = {}  # id(appsrc) -> [appsrc, seen_keyframe]

    def start(self) -> None:
        self.pipeline.set_state(Gst.State.PLAYING)

    def attach(self, appsrc) -> None:
        with self._lock:
            self._clients[id(appsrc)] = [appsrc, False]

    def detach(self, appsrc) -> None:
        with self._lock:
            self._clients.pop(id(appsrc), None)

    def _on_sample(self, sink) -> Gst.FlowReturn:
        sample = sink.emit("pull-sample")
        buffer = sample.get_buffer()
        keyframe = not buffer.has_flags(Gst.BufferFlags.DELTA_UNIT)
        with self._lock:
            clients = list(self._clients.values())
        for client in clients:
            appsrc, started = client
            if not started and not keyframe:
                continue  # a new client starts at a keyframe
            client[1] = True
            out = buffer.copy()
            out.pts = out.dts = out.duration = Gst.CLOCK_TIME_NONE  # appsrc stamps on arrival
            if appsrc.emit("push-buffer", out) != Gst.FlowReturn.OK:
                self.detach(appsrc)
        return Gst.FlowReturn.OK

    def _on_message(self, _bus, message) -> None:
        if message.type == Gst.MessageType.EOS:
            self.pipeline.seek_simple(Gst.Format.TIME, Gst.SeekFlags.FLUSH | Gst.SeekFlags.KEY_UNIT, 0)
        elif message.type == Gst.MessageType.ERROR:
            error, _ = message.parse_error()
            print(f"feeder error: {error.message}", file=sys.stderr, flush=True)


class LoopingFactory(GstRtspServer.RTSPMediaFactory):
    """Media whose appsrc is fed by one shared :class:`LoopingFeeder`."""

    def __init__(self, feeder: LoopingFeeder) -> None:
        super().__init__()
        self.feeder = feeder
        self.set_launch(
            f"( appsrc name=src is-live=true do-timestamp=true format=time caps={CAPS} "
            "! h264parse ! rtph264pay name=pay0 pt=96 config-interval=1 )"
        )
        self.set_shared(True)
        self.connect("media-configure", self._on_configure)

    def _on_configure(self, _factory, media) -> None:
        appsrc = media.get_element().get_by_name("src")
        self.feeder.attach(appsrc)
        media.connect("unprepared", lambda *_: self.feeder.detach(appsrc))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=0, help="0 picks a free port")
    parser.add_argument("--mount", action="append", default=[], metavar="NAME=FILE")
    parser.add_argument("--tls", nargs=2, metavar=("CERT", "KEY"), help="serve rtsps:// with this certificate")
    args = parser.parse_args()
    Gst.init(None)
    server = GstRtspServer.RTSPServer()
    server.set_address("127.0.0.1")
    server.set_service(str(args.port))
    mounts = server.get_mount_points()
    if args.tls:  # TLS comes with access control: let anonymous clients play every mount
        auth = GstRtspServer.RTSPAuth()
        auth.set_tls_certificate(Gio.TlsCertificate.new_from_files(*args.tls))
        token = GstRtspServer.RTSPToken()
        token.set_string("media.factory.role", "anonymous")
        auth.set_default_token(token)
        server.set_auth(auth)
    feeders = []
    for mount in args.mount:
        name, _, path = mount.partition("=")
        feeder = LoopingFeeder(path)
        feeders.append(feeder)
        factory = LoopingFactory(feeder)
        if args.tls:
            role = "anonymous, media.factory.access=(boolean)true, media.factory.construct=(boolean)true"
            factory.add_role_from_structure(Gst.Structure.from_string(role)[0])
        mounts.add_factory(f"/{name}", factory)
    loop = GLib.MainLoop()
    if server.attach(None) == 0:
        print(f"cannot listen on 127.0.0.1:{args.port}", file=sys.stderr, flush=True)
        return 1
    for feeder in feeders:
        feeder.start()
    GLib.unix_signal_add(GLib.PRIORITY_DEFAULT, signal.SIGTERM, loop.quit)
    GLib.unix_signal_add(GLib.PRIORITY_DEFAULT, signal.SIGINT, loop.quit)
    print(f"READY {server.get_bound_port()}", flush=True)
    loop.run()
    for feeder in feeders:
        feeder.pipeline.set_state(Gst.State.NULL)
    return 0


if __name__ == "__main__":
    sys.exit(main())
