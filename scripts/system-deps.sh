#!/usr/bin/env bash
# Debian packages that the full test suite drives for real: the Mosquitto broker, a PostgreSQL
# server, Chromium for the console's end-to-end tests, espeak-ng for synthetic speech, GStreamer's
# RTSP server as a stand-in IP camera (its audio track) for the network audio source, openssl for
# the throw-away CA and certificates of the MQTT-over-TLS tests.
# Installs what is missing when run as root (or with sudo); otherwise says what to install and the
# tests that need a missing program skip with that reason.
set -u
needed=()
command -v mosquitto >/dev/null || [ -x /usr/sbin/mosquitto ] || needed+=(mosquitto)
ls /usr/lib/postgresql/*/bin/postgres >/dev/null 2>&1 || needed+=(postgresql)
command -v chromium >/dev/null || needed+=(chromium)
command -v espeak-ng >/dev/null || needed+=(espeak-ng)
/usr/bin/python3 -c "import gi; gi.require_version('GstRtspServer', '1.0')" 2>/dev/null \
  && ls /usr/lib/*/gstreamer-1.0/libgstrtp.so >/dev/null 2>&1 \
  || needed+=(python3-gi gir1.2-gst-rtsp-server-1.0 gstreamer1.0-plugins-base gstreamer1.0-plugins-good)
command -v openssl >/dev/null || needed+=(openssl)
[ ${#needed[@]} -eq 0 ] && exit 0
if [ "$(id -u)" -eq 0 ]; then sudo=""; elif command -v sudo >/dev/null; then sudo="sudo"; else
  echo "system-deps: not root; install with: apt-get install ${needed[*]} (tests that need them will skip)"
  exit 0
fi
echo "system-deps: installing ${needed[*]}"
$sudo apt-get update -qq && DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${needed[@]}" >/dev/null \
  || echo "system-deps: apt-get failed; tests that need ${needed[*]} will skip"
exit 0
