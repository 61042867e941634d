"""Audio input: files and live sources as 16 kHz mono blocks stamped with UTC."""
