"""Camera cueing over ONVIF, privacy masks, and the virtual PTZ camera."""
