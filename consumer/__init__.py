"""The streaming consumer service: posts in, one result (or one dead letter) out per post, nothing lost.

Plain logic: `ledger` (offsets), `batcher` (micro-batches), `routing` (what happens to each post),
`errors` (the error tree and its table). Thin adapters: `kafka_source`, `kafka_sink`, `kafka_updates`,
`health`. Assembly: `service`; entry points: `cli` (`modstream consume`) and `check`.
"""
