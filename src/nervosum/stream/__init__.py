"""Stream serving: consume, predict, produce over Redis Streams, NATS JetStream and Kafka."""
