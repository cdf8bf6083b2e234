-- Undo the portal's sign-in tables.
DROP TABLE IF EXISTS "one_time_codes";
DROP TABLE IF EXISTS "portal_sessions";
DROP TABLE IF EXISTS "linked_logins";
DROP TABLE IF EXISTS "portal_users";
