from services.config.main import run

run()
