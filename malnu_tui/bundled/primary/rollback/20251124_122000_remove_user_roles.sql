-- Description: Undo 20251124_122000_add_user_roles.sql
-- Author: MA Malnu Kananga Development Team

DROP INDEX IF EXISTS idx_users_class;
DROP INDEX IF EXISTS idx_users_role;
ALTER TABLE users DROP COLUMN class_id;
ALTER TABLE users DROP COLUMN role;
