# The responder answers voice notes from their transcript (messages.media.v1); the media
# e2e test checks the whole path when this is set.
MEDIA_AWARE = True
