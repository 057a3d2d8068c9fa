"""How work reaches the identity service: its Kafka consumer handler."""
