-- Description: Roll back 20251201_091000_create_user_sessions.sql
-- Author: MA Malnu Kananga Development Team

DROP TABLE IF EXISTS user_sessions;
