"""How a service comes to run: local child processes, docker containers, or an external URL."""
