-- Description: Grades per student, subject, semester and academic year
-- Author: MA Malnu Kananga Development Team
-- Dependencies: 20251124_120500_create_users_table.sql

CREATE TABLE IF NOT EXISTS academic_records (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    student_id INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    subject TEXT NOT NULL,
    grade REAL NOT NULL CHECK (grade >= 0 AND grade <= 100),
    semester INTEGER NOT NULL CHECK (semester IN (1, 2)),
    academic_year TEXT NOT NULL,
    UNIQUE (student_id, subject, semester, academic_year)
);

CREATE INDEX IF NOT EXISTS idx_academic_records_student ON academic_records(student_id);
CREATE INDEX IF NOT EXISTS idx_academic_records_year ON academic_records(academic_year, semester);
