from services.media.main import run

run()
