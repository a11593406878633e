"""The time core, pure: triggers, DST rules, durations, calendars, windows, compiled
schedules and the parsers that turn config specs into them.

No I/O, no clock reads, no logging. It imports nothing else of ``shared``; everything
else may import it.
"""
