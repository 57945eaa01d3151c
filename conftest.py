"""Root pytest config: modules that start a Faust app at import are not doctest-collected."""

collect_ignore = ["streams/worker/app.py", "bench/noop_app.py", "docker-compose.yml"]
