-- A school office's admin app on D1: the guardians who pay, written for malnu-tui's tests.
DROP TABLE IF EXISTS guardians;
CREATE TABLE guardians (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    name TEXT NOT NULL,
    email TEXT NOT NULL UNIQUE,
    notes TEXT,
    created_at DATETIME DEFAULT CURRENT_TIMESTAMP,
    updated_at DATETIME DEFAULT CURRENT_TIMESTAMP
);

CREATE TRIGGER guardians_touch
AFTER UPDATE ON guardians
BEGIN
    UPDATE guardians SET updated_at = CURRENT_TIMESTAMP WHERE id = NEW.id;
END;
