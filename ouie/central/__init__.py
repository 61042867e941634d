"""Central service: the live chain from reports to incidents, cues and storage."""
