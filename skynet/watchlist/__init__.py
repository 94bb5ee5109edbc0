"""Watch-lists: every newly stored sighting is matched against the active entries; a match is an alert."""

from skynet.watchlist.fanout import AlertFanout
from skynet.watchlist.matcher import WatchlistMatcher, plate_matches

__all__ = ["AlertFanout", "WatchlistMatcher", "plate_matches"]
