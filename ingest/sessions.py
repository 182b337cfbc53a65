"""Trading sessions: moved to alphaduck.calendars (every stage needs the calendar)."""

from alphaduck.calendars import trading_sessions, validate_calendar  # noqa: F401
