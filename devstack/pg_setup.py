"""The application's role and database in a fresh (or existing) PostgreSQL cluster,
created through psql on the server's Unix socket: idempotent, run at every start."""

from __future__ import annotations

import os
import subprocess
from dataclasses import dataclass
from pathlib import Path

from devstack.errors import StartupError

SUPERUSER = "postgres"


@dataclass(frozen=True)
class AppDatabase:
    user: str
    password: str
    database: str


def create_role_and_database(
    psql: Path, socket_dir: Path, port: int, app: AppDatabase, *, with_pg_stat_statements: bool
) -> None:
    """Create the role and the database when missing; StartupError when psql fails."""
    # psql quotes :'variables' as SQL literals; format() quotes %I identifiers. CREATEDB: a
    # test module may need a database of its own beside the suite's (test_request_stops).
    script = [
        "SELECT format('CREATE ROLE %I LOGIN CREATEROLE CREATEDB PASSWORD %L', :'role', :'password')"
        " WHERE NOT EXISTS (SELECT FROM pg_roles WHERE rolname = :'role') \\gexec",
        "SELECT format('CREATE DATABASE %I OWNER %I', :'db', :'role')"
        " WHERE NOT EXISTS (SELECT FROM pg_database WHERE datname = :'db') \\gexec",
    ]
    if with_pg_stat_statements:
        script += ["\\connect :db", "CREATE EXTENSION IF NOT EXISTS pg_stat_statements;"]
    variables = {"ON_ERROR_STOP": "1", "role": app.user, "password": app.password}
    variables["db"] = app.database
    command = [str(psql), "--no-psqlrc", "--quiet"]
    for name, value in variables.items():
        command += ["--set", f"{name}={value}"]
    command += ["--host", str(socket_dir), "--port", str(port), "--username", SUPERUSER]
    command += ["--dbname", "postgres", "--file", "-"]
    env = {key: value for key, value in os.environ.items() if not key.startswith("PG")}
    done = subprocess.run(
        command,
        input="\n".join(script) + "\n",
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        env=env,
    )
    if done.returncode != 0:
        raise StartupError(
            f"creating the {app.user!r} role and database failed:\n"
            f"{(done.stdout + done.stderr).strip()}"
        )
