"""Non-biometric video events on a camera's own stream: intrusion into a forbidden zone, motion
against a declared direction across a line, and excessive density of people in a zone.

People are found as moving foreground blobs (OpenCV background subtraction) sized by a
perspective prior; nothing identifies a person: no faces, no appearance, no tracks kept beyond
the few seconds a crossing needs, no images stored unless an operator saves one on an incident.
Off by default; enabling it is a declared deployment decision (see `ouie.video.config` and
docs/video.md).
"""
