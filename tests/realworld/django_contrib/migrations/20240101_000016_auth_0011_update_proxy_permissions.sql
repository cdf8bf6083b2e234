-- Description: auth migration 0011_update_proxy_permissions (sqlmigrate output for SQLite)
BEGIN;
--
-- Raw Python operation
--
-- THIS OPERATION CANNOT BE WRITTEN AS SQL
COMMIT;
