"""What each service is: binaries, command line, container, readiness probe, URL, namespaces."""
