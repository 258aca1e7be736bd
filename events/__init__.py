"""The wire contract shared by the consumer and the trainer.

Pydantic schemas of every event on the wire (`schemas`), dead-letter headers (`dead_letter`), the
settings object both services read (`settings`) and Kafka client/topic helpers (`kafka`). Nothing here
imports torch; `kafka` is the only module that imports confluent_kafka.
"""
