-- Migration number: 0009 	 2024-10-14T02:22:48.006Z

ALTER TABLE members
  ADD is_moderator INTEGER;

-- The first account made (the school's own) moderates from the start.
UPDATE members SET is_moderator = 1
WHERE id = (SELECT id FROM members ORDER BY joined ASC LIMIT 1);
