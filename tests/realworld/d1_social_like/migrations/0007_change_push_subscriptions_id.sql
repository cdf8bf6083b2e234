-- Migration number: 0007 	 2024-09-16T07:15:09.642Z

-- Subscriptions get a number for an id (the push service wants one); the old ones are let go,
-- every device subscribes again on its next start.
DROP TABLE push_subscriptions;

CREATE TABLE push_subscriptions (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  member_id TEXT NOT NULL,
  app_id TEXT NOT NULL,
  endpoint TEXT NULL NOT NULL,
  p256dh TEXT NOT NULL,
  auth_secret TEXT NOT NULL,
  on_announcement INTEGER NOT NULL,
  on_reply INTEGER NOT NULL,
  on_follow INTEGER NOT NULL,
  on_grade INTEGER NOT NULL,
  quiet_hours TEXT NOT NULL,
  cdate DATETIME NOT NULL DEFAULT (STRFTIME('%Y-%m-%d %H:%M:%f', 'NOW')),

  UNIQUE(member_id, app_id)
  CHECK (on_announcement IN (0, 1))
  FOREIGN KEY(member_id) REFERENCES members(id),
  FOREIGN KEY(app_id) REFERENCES apps(id)
);
