"""Daily and weekly reports: pure maths (periods, percentiles, model, recommendations,
SVG charts, renderers) around two thin I/O modules (``load`` reads the daily aggregates,
``produce`` stores, writes and announces a report)."""
