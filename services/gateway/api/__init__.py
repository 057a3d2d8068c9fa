"""The gateway's HTTP contract: the chatbot request and the answers it gives."""
