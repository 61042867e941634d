"""The city-scale deployment on NATS: a replicated broker cluster (JetStream R3; reports come
in by JetStream publish, held until stored on a quorum), fusion workers that own geographic
cells, and work-queue storage writers. See docs/cluster.md."""
