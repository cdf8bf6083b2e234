-- Description: Roles (student, teacher, parent, admin) and class membership for users
-- Author: MA Malnu Kananga Development Team
-- Dependencies: 20251124_120500_create_users_table.sql

ALTER TABLE users ADD COLUMN role TEXT NOT NULL DEFAULT 'student'
    CHECK (role IN ('student', 'teacher', 'parent', 'admin'));
ALTER TABLE users ADD COLUMN class_id TEXT;

CREATE INDEX IF NOT EXISTS idx_users_role ON users(role);
CREATE INDEX IF NOT EXISTS idx_users_class ON users(class_id);
