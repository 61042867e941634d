"""A stand-in for an IP camera's RTSP audio track: GStreamer's RTSP server (the one many cameras
embed) streaming a WAV file as G.711 μ-law at 8 kHz, in real time, on 127.0.0.1.

Run with Debian's python3 (GObject introspection is a system package, not in the venv):
    /usr/bin/python3 tests/rtsp_camera.py PORT FILE.wav
It prints "ready" once it listens, then serves rtsp://127.0.0.1:PORT/audio until killed.
"""

import sys

import gi

gi.require_version("Gst", "1.0")
gi.require_version("GstRtspServer", "1.0")
from gi.repository import GLib, Gst, GstRtspServer  # noqa: E402

PIPELINE = (
    "( filesrc location={path} ! wavparse ! audioconvert ! audioresample "
    "! audio/x-raw,rate=8000,channels=1 ! mulawenc ! rtppcmupay name=pay0 pt=0 )"
)


def main(port: str, path: str) -> None:
    Gst.init(None)
    server = GstRtspServer.RTSPServer()
    server.set_address("127.0.0.1")
    server.set_service(port)
    factory = GstRtspServer.RTSPMediaFactory()
    factory.set_launch(PIPELINE.format(path=path))
    server.get_mount_points().add_factory("/audio", factory)
    server.attach(None)
    print("ready", flush=True)
    GLib.MainLoop().run()


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
