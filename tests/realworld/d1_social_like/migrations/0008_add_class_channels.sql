-- Migration number: 0008 	 2024-09-30T05:40:26.808Z

-- A class's own channel, run by one member account.
CREATE TABLE IF NOT EXISTS class_channels (
  id TEXT PRIMARY KEY,
  member_id TEXT NOT NULL UNIQUE,

  FOREIGN KEY(member_id) REFERENCES members(id)
);
