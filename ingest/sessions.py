"""Trading sessions: in alphaduck.calendars (every stage needs the calendar)."""

from alphaduck.calendars import trading_sessions, validate_calendar, warm_calendar  # noqa: F401
