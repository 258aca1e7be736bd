"""Hardened image fetching, shared by the consumer and the trainer (which never import each other).

    >>> from fetcher import BackgroundFetcher, FetchResult, ImageFetcher, sniff_image_type

Modules: `addresses` (which IPs are public), `policy` (URL and allow-list decisions), `retry`
(what to retry, backoff), `sniff` (image type from magic bytes), `limits` (concurrency bounds),
`hostkeys` (which budget a host spends), `network` (the guarded connection layer), `streams` (the
sockets under it), `pools` (the trusted hosts' connections), `client` (ImageFetcher), `background` (a
thread + loop).
"""

from fetcher.background import BackgroundFetcher
from fetcher.client import FetchResult, ImageFetcher
from fetcher.sniff import sniff_image_type

__all__ = ["BackgroundFetcher", "FetchResult", "ImageFetcher", "sniff_image_type"]
