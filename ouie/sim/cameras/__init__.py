"""The simulated world's cameras: virtual ONVIF PTZ cameras that render the scenario, and the
built-in scenarios' camera sites."""
