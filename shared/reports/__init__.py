"""Daily and weekly reports, shared by the reporter (periodic reports), the API (on
demand, every format) and the CLI: pure maths (periods, percentiles, model,
recommendations, SVG charts, renderers and their templates) and one thin reader
(``load`` builds a report from the daily aggregates in Redis).

Imports only ``shared.timing``, ``shared.contract``, ``shared.runtime`` and ``shared.config``.
"""
