"""Views derived from a run store: tables, leaderboards, statistics and figures."""
