-- Migration number: 0006 	 2024-09-02T03:27:40.181Z

-- #tags on a post; a tag may repeat, so there is no key.
CREATE TABLE IF NOT EXISTS post_tags (
  tag TEXT NOT NULL,
  post_id TEXT NOT NULL,
  cdate DATETIME NOT NULL DEFAULT (STRFTIME('%Y-%m-%d %H:%M:%f', 'NOW')),

  FOREIGN KEY(post_id) REFERENCES posts(id)
);

CREATE INDEX IF NOT EXISTS post_tags_tag ON post_tags(tag);
