-- Description: Undo 20251124_120500_create_users_table.sql
-- Author: MA Malnu Kananga Development Team

DROP TABLE IF EXISTS users;
