from services.responder.main import run

run()
