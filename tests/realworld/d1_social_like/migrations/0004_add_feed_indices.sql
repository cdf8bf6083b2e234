-- Migration number: 0004 	 2024-08-06T01:12:33.470Z

CREATE INDEX IF NOT EXISTS feed_entries_member ON feed_entries(member_id, shown_from);
CREATE INDEX IF NOT EXISTS feed_entries_audience ON feed_entries(audience);
