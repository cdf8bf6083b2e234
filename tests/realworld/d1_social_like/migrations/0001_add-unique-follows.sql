-- Migration number: 0001 	 2024-07-22T08:31:02.554Z

-- One follow per pair: the app sent a second request on a double tap.
CREATE UNIQUE INDEX follows_once ON follows (follower_id, followee_id);
