"""Operations endpoints shared by the services: the small HTTP server for /metrics, /healthz, /readyz.

The consumer and the feedback service both serve it; neither imports the other, both import this.
"""
