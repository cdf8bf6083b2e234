-- Migration number: 0005 	 2024-08-19T09:58:21.377Z

-- The app retries a post on a bad connection; the key it sends makes the retry a no-op.
CREATE TABLE IF NOT EXISTS idempotency_keys (
  request_key TEXT NOT NULL PRIMARY KEY,
  member_id TEXT NOT NULL,
  post_id TEXT NOT NULL,
  expires_at DATETIME NOT NULL,

  FOREIGN KEY(member_id) REFERENCES members(id)
  FOREIGN KEY(post_id) REFERENCES posts(id)
);

CREATE INDEX IF NOT EXISTS idempotency_keys_expiry ON idempotency_keys(expires_at);
