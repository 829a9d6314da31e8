"""The supervisors' web dashboard (aiohttp): live calls, statistics, call pages, messages,
review of not-understood turns, agents' screen-pop, Prometheus metrics and CSV export."""
