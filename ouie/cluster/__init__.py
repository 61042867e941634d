"""The city-scale deployment on NATS: a replicated broker cluster (JetStream R3; reports come
in by JetStream publish, or MQTT 3.1.1), fusion workers that own geographic cells, and
work-queue storage writers. See docs/cluster.md."""
