"""The application under test of the guide-style suite: models, a repository, an event publisher."""
