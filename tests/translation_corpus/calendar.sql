-- SQLite's calendar as real apps use it (billing dates, weekly reports): each rewrite computes,
-- on the real PostgreSQL server, what SQLite computes for the same rows (the check).

-- case: calendar_month_end_runs_on_like_sqlite
-- setup:
CREATE TABLE bills (id INTEGER PRIMARY KEY, start TEXT, due TEXT, prev TEXT, anniv TEXT, month_end TEXT, sunday TEXT);
INSERT INTO bills (id, start) VALUES (1, '2025-01-31'), (2, '2024-02-29'), (3, '2025-03-31 10:15:00'), (4, '2025-05-15'), (5, '2025-12-31 23:59:59'), (6, NULL), (7, '2025-01-05'), (8, '2025-01-11 08:00:00');
-- sqlite:
UPDATE bills SET due = date(start, '+1 month'), prev = datetime(start, '-1 months'), anniv = date(start, '+1 year'), month_end = date(start, 'start of month', '+1 month', '-1 day'), sunday = date(start, 'weekday 0');
-- postgres:
UPDATE bills SET due = TO_CHAR((DATE_TRUNC('MONTH', CAST(start AS TIMESTAMP)) + INTERVAL '1 MONTHS' + (CAST(start AS TIMESTAMP) - DATE_TRUNC('MONTH', CAST(start AS TIMESTAMP)))), 'YYYY-MM-DD'), prev = TO_CHAR((DATE_TRUNC('MONTH', CAST(start AS TIMESTAMP)) - INTERVAL '1 MONTHS' + (CAST(start AS TIMESTAMP) - DATE_TRUNC('MONTH', CAST(start AS TIMESTAMP)))), 'YYYY-MM-DD HH24:MI:SS'), anniv = TO_CHAR((DATE_TRUNC('MONTH', CAST(start AS TIMESTAMP)) + INTERVAL '1 YEARS' + (CAST(start AS TIMESTAMP) - DATE_TRUNC('MONTH', CAST(start AS TIMESTAMP)))), 'YYYY-MM-DD'), month_end = TO_CHAR((DATE_TRUNC('MONTH', CAST(start AS TIMESTAMP)) + INTERVAL '1 MONTHS' - INTERVAL '1 DAYS'), 'YYYY-MM-DD'), sunday = TO_CHAR((CAST(start AS TIMESTAMP) + CAST(0 + 7 - EXTRACT(DOW FROM CAST(start AS TIMESTAMP)) AS INT) % 7 * INTERVAL '1 DAY'), 'YYYY-MM-DD');
-- check:
SELECT id, due, prev, anniv, month_end, sunday FROM bills ORDER BY id

-- case: calendar_fractional_months_are_30_days
-- setup:
CREATE TABLE t (id INTEGER PRIMARY KEY, d TEXT, later TEXT);
INSERT INTO t (id, d) VALUES (1, '2025-01-31'), (2, '2025-05-31 12:00:00'), (3, '2025-03-01');
-- sqlite:
UPDATE t SET later = datetime(d, '+1.5 months', '-0.25 months');
-- postgres:
UPDATE t SET later = TO_CHAR((DATE_TRUNC('MONTH', DATE_TRUNC('MONTH', CAST(d AS TIMESTAMP)) + INTERVAL '1.5 MONTHS' + (CAST(d AS TIMESTAMP) - DATE_TRUNC('MONTH', CAST(d AS TIMESTAMP)))) - INTERVAL '0.25 MONTHS' + (DATE_TRUNC('MONTH', CAST(d AS TIMESTAMP)) + INTERVAL '1.5 MONTHS' + (CAST(d AS TIMESTAMP) - DATE_TRUNC('MONTH', CAST(d AS TIMESTAMP))) - DATE_TRUNC('MONTH', DATE_TRUNC('MONTH', CAST(d AS TIMESTAMP)) + INTERVAL '1.5 MONTHS' + (CAST(d AS TIMESTAMP) - DATE_TRUNC('MONTH', CAST(d AS TIMESTAMP)))))), 'YYYY-MM-DD HH24:MI:SS');
-- check:
SELECT id, later FROM t ORDER BY id

-- case: calendar_fractional_years_withheld
-- sqlite:
SELECT date('2024-02-29', '+1.5 years');
-- finding: modifier '+1.5 years'

-- case: calendar_modifier_sqlite_reads_as_null_withheld
-- sqlite:
SELECT date('now', ' +1 day');
-- finding: modifier ' +1 day'

-- case: calendar_week_of_year_and_weekday
-- setup:
CREATE TABLE visits (id INTEGER PRIMARY KEY, at TEXT, week TEXT, wd TEXT, label TEXT);
INSERT INTO visits (id, at) VALUES (1, '2025-01-01 09:00:00'), (2, '2025-01-05'), (3, '2025-01-06'), (4, '2024-12-31'), (5, '2023-01-01'), (6, '2026-06-15 23:00:00'), (7, NULL);
-- sqlite:
UPDATE visits SET week = strftime('%Y-%W', at), wd = strftime('%w', at), label = strftime('Minggu ke-%W (hari %w), %d/%m', at);
-- postgres:
UPDATE visits SET week = (TO_CHAR(CAST(at AS TIMESTAMP), 'YYYY"-"') || LPAD(CAST((CAST(EXTRACT(DOY FROM CAST(at AS TIMESTAMP)) AS INT) + 7 - CAST(EXTRACT(ISODOW FROM CAST(at AS TIMESTAMP)) AS INT)) / 7 AS TEXT), 2, '0')), wd = CAST(CAST(EXTRACT(DOW FROM CAST(at AS TIMESTAMP)) AS INT) AS TEXT), label = ('Minggu ke-' || LPAD(CAST((CAST(EXTRACT(DOY FROM CAST(at AS TIMESTAMP)) AS INT) + 7 - CAST(EXTRACT(ISODOW FROM CAST(at AS TIMESTAMP)) AS INT)) / 7 AS TEXT), 2, '0') || ' (hari ' || CAST(CAST(EXTRACT(DOW FROM CAST(at AS TIMESTAMP)) AS INT) AS TEXT) || '), ' || TO_CHAR(CAST(at AS TIMESTAMP), 'DD"/"MM'));
-- check:
SELECT id, week, wd, label FROM visits ORDER BY id

-- case: calendar_strftime_text_with_letters_kept
-- setup:
CREATE TABLE t (id INTEGER PRIMARY KEY, d TEXT, s TEXT);
INSERT INTO t (id, d) VALUES (1, '2025-03-07 14:05:09'), (2, NULL);
-- sqlite:
UPDATE t SET s = strftime('minggu dd ss: %d days "%H" mm', d);
-- postgres:
UPDATE t SET s = ('minggu dd ss: ' || TO_CHAR(CAST(d AS TIMESTAMP), 'DD') || ' days "' || TO_CHAR(CAST(d AS TIMESTAMP), 'HH24') || '" mm');
-- check:
SELECT id, s FROM t ORDER BY id

-- case: planner_hints_return_their_value
-- setup:
CREATE TABLE tasks (id INTEGER PRIMARY KEY, done INTEGER NOT NULL DEFAULT 0, title TEXT);
INSERT INTO tasks (id, done, title) VALUES (1, 0, 'a'), (2, 1, 'b'), (3, 0, NULL);
-- sqlite:
CREATE VIEW open_tasks AS SELECT id, likelihood(title, 0.9) AS title FROM tasks WHERE unlikely(done = 0) AND likely(id > 0);
-- postgres:
CREATE VIEW open_tasks AS SELECT id, title AS title FROM tasks WHERE done = 0 AND id > 0;
-- check:
SELECT id, title FROM open_tasks ORDER BY id

-- case: calendar_julianday_to_the_last_bit
-- setup:
CREATE TABLE loans (id INTEGER PRIMARY KEY, borrowed_at TEXT, due TEXT, jd REAL, days REAL, late INTEGER);
INSERT INTO loans (id, borrowed_at, due) VALUES (1, '2025-01-01 08:00:00', '2025-01-15'), (2, '2024-02-28 23:59:59.250', '2024-03-01 00:00:00.125'), (3, '1969-07-20 20:17:40', '2000-01-01 12:00:00'), (4, NULL, '2025-06-01'), (5, '2025-03-30 10:00:00', '2025-03-31 09:59:59.999');
-- sqlite:
UPDATE loans SET jd = julianday(borrowed_at), days = julianday(due) - julianday(borrowed_at), late = CAST(julianday(due, '+7 days') - julianday(borrowed_at) AS INTEGER);
CREATE VIEW long_loans AS SELECT id FROM loans WHERE julianday(due) - julianday(borrowed_at) > 10;
-- postgres:
UPDATE loans SET jd = (CAST(ROUND(EXTRACT(EPOCH FROM CAST(borrowed_at AS TIMESTAMP)) * 1000) + 210866760000000 AS DOUBLE PRECISION) / CAST(86400000 AS DOUBLE PRECISION)), days = (CAST(ROUND(EXTRACT(EPOCH FROM CAST(due AS TIMESTAMP)) * 1000) + 210866760000000 AS DOUBLE PRECISION) / CAST(86400000 AS DOUBLE PRECISION)) - (CAST(ROUND(EXTRACT(EPOCH FROM CAST(borrowed_at AS TIMESTAMP)) * 1000) + 210866760000000 AS DOUBLE PRECISION) / CAST(86400000 AS DOUBLE PRECISION)), late = CAST(TRUNC(CAST((CAST(ROUND(EXTRACT(EPOCH FROM (CAST(due AS TIMESTAMP) + INTERVAL '7 DAYS')) * 1000) + 210866760000000 AS DOUBLE PRECISION) / CAST(86400000 AS DOUBLE PRECISION)) - (CAST(ROUND(EXTRACT(EPOCH FROM CAST(borrowed_at AS TIMESTAMP)) * 1000) + 210866760000000 AS DOUBLE PRECISION) / CAST(86400000 AS DOUBLE PRECISION)) AS DOUBLE PRECISION)) AS BIGINT);
CREATE VIEW long_loans AS SELECT id FROM loans WHERE (CAST(ROUND(EXTRACT(EPOCH FROM CAST(due AS TIMESTAMP)) * 1000) + 210866760000000 AS DOUBLE PRECISION) / CAST(86400000 AS DOUBLE PRECISION)) - (CAST(ROUND(EXTRACT(EPOCH FROM CAST(borrowed_at AS TIMESTAMP)) * 1000) + 210866760000000 AS DOUBLE PRECISION) / CAST(86400000 AS DOUBLE PRECISION)) > 10;
-- check:
SELECT l.id, l.jd, l.days, l.late, (SELECT count(*) FROM long_loans v WHERE v.id = l.id) FROM loans l ORDER BY l.id
