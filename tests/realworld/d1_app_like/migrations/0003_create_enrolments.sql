-- Which guardian pays for which course, and until when.
DROP TABLE IF EXISTS enrolments;
CREATE TABLE enrolments (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    guardian_id INTEGER NOT NULL,
    course_id INTEGER NOT NULL,
    ends_at DATETIME,
    cancelled_at DATETIME,
    created_at DATETIME DEFAULT CURRENT_TIMESTAMP,
    FOREIGN KEY (guardian_id) REFERENCES guardians(id) ON DELETE CASCADE,
    FOREIGN KEY (course_id) REFERENCES courses(id)
);

-- One open enrolment per guardian and course; cancelled ones stay as history.
CREATE UNIQUE INDEX enrolments_open
    ON enrolments(guardian_id, course_id) WHERE cancelled_at IS NULL;
CREATE INDEX enrolments_course ON enrolments(course_id);
