"""modstream's command line and the operator tools around the two services (demo, produce, tail, ...)."""
