-- Migration number: 0000 	 2024-07-15T02:10:44.120Z

PRAGMA foreign_keys = ON;

-- Everyone on the school's feed: pupils, staff and parents. What a profile shows (display
-- name, handle, class) is JSON in `profile`, read by the search triggers below.
CREATE TABLE IF NOT EXISTS members (
  id TEXT PRIMARY KEY,
  role TEXT NOT NULL,
  login_email TEXT,
  signing_key BLOB,
  verify_key TEXT,
  joined DATETIME NOT NULL DEFAULT (STRFTIME('%Y-%m-%d %H:%M:%f', 'NOW')),
  profile TEXT NOT NULL DEFAULT (json_object())
);

CREATE INDEX IF NOT EXISTS members_login_email ON members(login_email);

CREATE TABLE IF NOT EXISTS class_groups (
  id TEXT PRIMARY KEY,
  title TEXT NOT NULL,
  homeroom_id TEXT,
  cdate DATETIME NOT NULL DEFAULT (STRFTIME('%Y-%m-%d %H:%M:%f', 'NOW')),
  FOREIGN KEY(homeroom_id) REFERENCES members(id)
);

-- A parent follows a teacher, a pupil follows a club; staff accept requests.
CREATE TABLE IF NOT EXISTS follows (
  id TEXT PRIMARY KEY,
  follower_id TEXT NOT NULL,
  followee_id TEXT NOT NULL,
  status TEXT NOT NULL DEFAULT 'requested',
  cdate DATETIME NOT NULL DEFAULT (STRFTIME('%Y-%m-%d %H:%M:%f', 'NOW')),

  FOREIGN KEY(follower_id) REFERENCES members(id)
  FOREIGN KEY(followee_id) REFERENCES members(id)
);

CREATE INDEX IF NOT EXISTS follows_followee ON follows(followee_id);

-- Announcements, notes and replies; `body` keeps the rendered parts as JSON.
CREATE TABLE IF NOT EXISTS posts (
  id TEXT PRIMARY KEY,
  public_id TEXT UNIQUE NOT NULL,
  kind TEXT NOT NULL,
  author_id TEXT NOT NULL,
  group_id TEXT,
  body TEXT NOT NULL DEFAULT (json_object()),
  attachments TEXT NOT NULL DEFAULT (json_array()),
  pinned INTEGER NOT NULL,
  cdate DATETIME NOT NULL DEFAULT (STRFTIME('%Y-%m-%d %H:%M:%f', 'NOW')),

  FOREIGN KEY(author_id) REFERENCES members(id),
  FOREIGN KEY(group_id) REFERENCES class_groups(id)
);

CREATE INDEX IF NOT EXISTS posts_group ON posts(group_id, cdate);

CREATE TABLE IF NOT EXISTS feed_entries (
  id TEXT PRIMARY KEY,
  member_id TEXT NOT NULL,
  post_id TEXT NOT NULL,
  cdate DATETIME NOT NULL DEFAULT (STRFTIME('%Y-%m-%d %H:%M:%f', 'NOW')),
  shown_from DATETIME NOT NULL DEFAULT (STRFTIME('%Y-%m-%d %H:%M:%f', 'NOW')),

  FOREIGN KEY(member_id) REFERENCES members(id),
  FOREIGN KEY(post_id) REFERENCES posts(id)
);

CREATE TABLE IF NOT EXISTS notices (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  kind TEXT NOT NULL,
  member_id TEXT NOT NULL,
  sender_id TEXT NOT NULL,
  post_id TEXT,
  read_at DATETIME,
  cdate DATETIME NOT NULL DEFAULT (STRFTIME('%Y-%m-%d %H:%M:%f', 'NOW')),

  FOREIGN KEY(member_id) REFERENCES members(id),
  FOREIGN KEY(sender_id) REFERENCES members(id),
  FOREIGN KEY(post_id) REFERENCES posts(id)
);

CREATE INDEX IF NOT EXISTS notices_unread ON notices(member_id, read_at);

-- "Read and understood": a parent's acknowledgement of an announcement.
CREATE TABLE IF NOT EXISTS acknowledgements (
  id TEXT PRIMARY KEY,
  member_id TEXT NOT NULL,
  post_id TEXT NOT NULL,
  cdate DATETIME NOT NULL DEFAULT (STRFTIME('%Y-%m-%d %H:%M:%f', 'NOW')),

  FOREIGN KEY(member_id) REFERENCES members(id)
  FOREIGN KEY(post_id) REFERENCES posts(id)
);

CREATE INDEX IF NOT EXISTS acknowledgements_post ON acknowledgements(post_id);

-- Apps allowed to post or read: the mobile app, the lobby kiosk.
CREATE TABLE IF NOT EXISTS apps (
  id TEXT PRIMARY KEY,
  secret TEXT NOT NULL,
  label TEXT NOT NULL,
  callback_urls TEXT NOT NULL,
  homepage TEXT,
  grants TEXT,
  cdate DATETIME NOT NULL DEFAULT (STRFTIME('%Y-%m-%d %H:%M:%f', 'NOW'))
);

CREATE TABLE IF NOT EXISTS push_subscriptions (
  id TEXT PRIMARY KEY,
  member_id TEXT NOT NULL,
  app_id TEXT NOT NULL,
  endpoint TEXT NULL,
  p256dh TEXT NOT NULL,
  auth_secret TEXT NOT NULL,
  on_announcement INTEGER NOT NULL,
  on_reply INTEGER NOT NULL,
  on_follow INTEGER NOT NULL,
  on_grade INTEGER NOT NULL,
  quiet_hours TEXT,
  cdate DATETIME NOT NULL DEFAULT (STRFTIME('%Y-%m-%d %H:%M:%f', 'NOW')),

  UNIQUE(member_id, app_id)
  CHECK (on_announcement IN (0, 1))
  FOREIGN KEY(member_id) REFERENCES members(id),
  FOREIGN KEY(app_id) REFERENCES apps(id)
);

-- The member directory's search box: a full-text index kept in step by three triggers.
CREATE VIRTUAL TABLE IF NOT EXISTS member_search USING fts5 (
    role,
    display_name,
    handle,
    class_name
);

CREATE TRIGGER IF NOT EXISTS members_search_added AFTER INSERT ON members
BEGIN
    INSERT INTO member_search (rowid, role, display_name, handle, class_name)
    VALUES (new.rowid, new.role,
            json_extract(new.profile, '$.displayName'),
            json_extract(new.profile, '$.handle'),
            json_extract(new.profile, '$.className'));
END;

CREATE TRIGGER IF NOT EXISTS members_search_removed AFTER DELETE ON members
BEGIN
    DELETE FROM member_search WHERE rowid = old.rowid;
END;

CREATE TRIGGER IF NOT EXISTS members_search_changed AFTER UPDATE OF role, profile ON members
BEGIN
    DELETE FROM member_search WHERE rowid = old.rowid;
    INSERT INTO member_search (rowid, role, display_name, handle, class_name)
    VALUES (new.rowid, new.role,
            json_extract(new.profile, '$.displayName'),
            json_extract(new.profile, '$.handle'),
            json_extract(new.profile, '$.className'));
END;

CREATE TABLE IF NOT EXISTS replies (
  id TEXT PRIMARY KEY,
  member_id TEXT NOT NULL,
  post_id TEXT NOT NULL,
  parent_post_id TEXT NOT NULL,
  cdate DATETIME NOT NULL DEFAULT (STRFTIME('%Y-%m-%d %H:%M:%f', 'NOW')),

  FOREIGN KEY(member_id) REFERENCES members(id)
  FOREIGN KEY(post_id) REFERENCES posts(id)
  FOREIGN KEY(parent_post_id) REFERENCES posts(id)
);

CREATE INDEX IF NOT EXISTS replies_parent ON replies(parent_post_id);
