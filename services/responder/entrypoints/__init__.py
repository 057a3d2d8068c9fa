"""How work reaches the responder: the consumer of identified messages."""
