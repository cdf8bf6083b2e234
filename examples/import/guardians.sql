-- Description: The guardians table the homeroom teachers' Excel sheet is imported into (an
--              example migration: copy it into migrations/ with a version prefix to use it).
-- Author: MA Malnu Kananga Development Team
-- Dependencies: none

CREATE TABLE IF NOT EXISTS guardians (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    nis TEXT NOT NULL UNIQUE,
    guardian_name TEXT NOT NULL,
    phone TEXT,
    student_birth_date DATE,
    registered_on DATE,
    monthly_fee NUMERIC(12,2)
);
