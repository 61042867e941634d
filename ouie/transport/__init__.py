"""Transport: MQTT and the in-process bus, store-and-forward on the sensor."""
