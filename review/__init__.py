"""The moderators' review console: results and posts in, joined by post_id; decisions out as Feedback.

Modules: `cards` (the bounded join and what a page is sent), `access` (basic auth and the cross-site
rule), `thumbnails` (images fetched by the hardened fetcher, re-encoded small), `feed` (the Kafka
reader thread), `decisions` (Feedback published and acknowledged), `app` (the Starlette routes),
`cli` (`modstream review`). The page itself is plain HTML/CSS/JS under `static/`.

May import `fetcher` and the wire contract (`events`); never `consumer` or `trainer`.
"""
