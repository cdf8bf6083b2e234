-- Migration number: 0002 	 2024-07-29T04:05:17.900Z

ALTER TABLE feed_entries
  ADD audience TEXT NOT NULL DEFAULT 'whole-school';
