"""The online feedback service (`modstream train` without --once): moderators' decisions in, retrain, promote.

Modules, one concept each:

- `kafka_io`      the only confluent_kafka code: the feedback consumer and a producer for its outputs
- `ingest`        a batch of feedback messages -> stored examples and dead letters
- `store`         the durable SQLite store of decisions and image blobs, and the training state
- `dead_letters`  sending a batch's dead letters with bounded retries
- `dataset`       stored feedback -> `trainer.dataset.Dataset`, and the frozen snapshot a training reads
- `triggers`      when to retrain (enough new labels, interval, back-off)
- `retrain`       the retrain job: a training in a worker thread, resumed after a crash
- `service`       the loop that ties them together
- `cli`           the `modstream train` subcommand (the service, or `trainer`'s one-off run with --once)

It imports the trainer's learning functions (`trainer/`) and `model/`; nothing in `trainer/`,
`consumer/` or `review/` imports it.
"""
