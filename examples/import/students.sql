-- Description: The students table the ministry's student list is imported into (an example
--              migration: copy it into migrations/ with a version prefix to use it).
-- Author: MA Malnu Kananga Development Team
-- Dependencies: none

CREATE TABLE IF NOT EXISTS students (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    nis TEXT NOT NULL UNIQUE,
    nisn TEXT NOT NULL UNIQUE CHECK (length(nisn) = 10),
    name TEXT NOT NULL,
    gender TEXT NOT NULL CHECK (gender IN ('L', 'P')),
    birth_date DATE,
    class_id TEXT,
    active BOOLEAN NOT NULL DEFAULT 1
);
