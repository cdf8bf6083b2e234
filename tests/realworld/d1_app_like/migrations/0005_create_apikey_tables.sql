-- Keys the office's scripts call the app's API with, and each key's use.
DROP TABLE IF EXISTS apiKeyUse;
DROP TABLE IF EXISTS apiKey;

CREATE TABLE apiKey (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    name TEXT NOT NULL,
    key TEXT NOT NULL UNIQUE,
    userId INTEGER NOT NULL REFERENCES user(id) ON DELETE CASCADE,
    enabled INTEGER NOT NULL DEFAULT 1,
    lastUsedAt INTEGER,
    createdAt INTEGER NOT NULL DEFAULT (unixepoch())
);

CREATE TABLE apiKeyUse (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    apiKeyId INTEGER NOT NULL REFERENCES apiKey(id) ON DELETE CASCADE,
    path TEXT NOT NULL,
    usedAt INTEGER NOT NULL DEFAULT (unixepoch())
);
CREATE INDEX apiKeyUse_apiKeyId_usedAt ON apiKeyUse(apiKeyId, usedAt DESC);
