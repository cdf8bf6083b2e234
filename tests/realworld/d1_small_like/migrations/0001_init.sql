-- A class newsletter and its blog on D1, written for malnu-tui's tests.
CREATE TABLE IF NOT EXISTS subscribers (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    email TEXT NOT NULL UNIQUE,
    class_name TEXT,
    confirmed INTEGER NOT NULL DEFAULT 0,
    created_at TEXT NOT NULL DEFAULT (datetime('now'))
);

CREATE TABLE IF NOT EXISTS issues (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    subject TEXT NOT NULL,
    body TEXT NOT NULL,
    sent_at TEXT,
    created_at TEXT NOT NULL DEFAULT (datetime('now'))
);

CREATE TABLE IF NOT EXISTS deliveries (
    issue_id INTEGER NOT NULL REFERENCES issues(id),
    subscriber_id INTEGER NOT NULL REFERENCES subscribers(id),
    delivered_at TEXT NOT NULL DEFAULT (datetime('now')),
    PRIMARY KEY (issue_id, subscriber_id)
);
