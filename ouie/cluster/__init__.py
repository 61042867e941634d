"""The city-scale deployment on NATS: a replicated broker cluster (JetStream R3, MQTT front door
for the sensors), fusion workers that own geographic cells, and work-queue storage writers.
See docs/deployment.md."""
