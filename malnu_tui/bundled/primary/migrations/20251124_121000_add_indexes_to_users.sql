-- Description: Indexes for looking users up by name and by sign-up date
-- Author: MA Malnu Kananga Development Team
-- Dependencies: 20251124_120500_create_users_table.sql

CREATE INDEX IF NOT EXISTS idx_users_name ON users(name);
CREATE INDEX IF NOT EXISTS idx_users_created_at ON users(created_at);
