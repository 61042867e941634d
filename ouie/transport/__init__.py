"""Transport: the `Bus` interface (MQTT and in-process), topics, the sensor's store-and-forward
uplink and the Mosquitto account/ACL writer. See docs/central.md."""
