-- Who agreed to be written to, and when they stopped.
ALTER TABLE subscribers ADD COLUMN consent_at TEXT;
ALTER TABLE subscribers ADD COLUMN unsubscribed_at TEXT;
CREATE TABLE IF NOT EXISTS consent_log (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    subscriber_id INTEGER NOT NULL REFERENCES subscribers(id),
    action TEXT NOT NULL CHECK (action IN ('given', 'withdrawn')),
    at TEXT NOT NULL DEFAULT (datetime('now'))
);
