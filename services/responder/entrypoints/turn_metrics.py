"""Issue 14's turn metrics: messages per turn, generations superseded, window wait, and how
turns ended."""

from prometheus_client import Counter, Histogram

TURN_MESSAGES = Histogram(
    "responder_turn_messages",
    "Customer messages answered by one reply",
    buckets=(1, 2, 3, 4, 6, 8, 12, 20),
)
SUPERSEDED = Counter(
    "responder_generations_superseded_total",
    "Model answers not published because a message joined the turn meanwhile",
)
WINDOW_WAIT = Histogram(
    "responder_turn_window_seconds",
    "From a turn's first message to the start of its generation",
    buckets=(0.25, 0.5, 1, 2, 4, 8, 16, 32, 64),
)
TURNS = Counter("responder_turns_total", "Turns by how they ended", ["outcome"])
