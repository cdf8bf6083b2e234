-- File: migrations/20251124_120500_create_users_table.sql
-- Description: Create the users table (students, teachers, parents, admins)
-- Author: MA Malnu Kananga Development Team
-- Dependencies: none

-- Start transaction
BEGIN TRANSACTION;

CREATE TABLE IF NOT EXISTS users (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    email TEXT NOT NULL UNIQUE,
    name TEXT NOT NULL,
    created_at DATETIME NOT NULL DEFAULT CURRENT_TIMESTAMP,
    updated_at DATETIME NOT NULL DEFAULT CURRENT_TIMESTAMP
);

-- Commit transaction
COMMIT;

-- Record migration
INSERT INTO migrations (filename, checksum)
VALUES ('20251124_120500_create_users_table.sql', 'checksum_hash');
