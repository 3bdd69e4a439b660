"""One key end to end: run the probes (`run`), combine facts (`profile`), decide (`decide`)."""
