-- Constructs sqlglot passes through, misparses or translates to something else.

-- case: tricky_replace_into
-- setup:
CREATE TABLE settings (key TEXT PRIMARY KEY, value TEXT, updated_by TEXT DEFAULT 'system');
INSERT INTO settings VALUES ('theme', 'dark', 'ana');
-- sqlite:
REPLACE INTO settings (key, value) VALUES ('theme', 'light');
-- postgres:
INSERT INTO settings (key, value) VALUES ('theme', 'light') ON CONFLICT(key) DO UPDATE SET value = excluded.value, updated_by = DEFAULT;
-- check:
SELECT key, value, updated_by FROM settings

-- case: tricky_replace_by_unique_email
-- setup:
CREATE TABLE users (id INTEGER PRIMARY KEY AUTOINCREMENT, email TEXT NOT NULL UNIQUE, name TEXT);
INSERT INTO users (email, name) VALUES ('a@x', 'A');
-- sqlite:
INSERT OR REPLACE INTO users (email, name) VALUES ('a@x', 'B');
-- postgres:
INSERT INTO users (email, name) VALUES ('a@x', 'B') ON CONFLICT(email) DO UPDATE SET id = DEFAULT, name = excluded.name;
-- check:
SELECT email, name FROM users ORDER BY email

-- case: tricky_replace_two_keys
-- setup:
CREATE TABLE users (id INTEGER PRIMARY KEY, email TEXT NOT NULL UNIQUE, name TEXT);
-- sqlite:
INSERT OR REPLACE INTO users (id, email, name) VALUES (1, 'a@x', 'B');
-- finding: INSERT OR REPLACE

-- case: tricky_replace_unknown_table
-- sqlite:
INSERT OR REPLACE INTO nowhere (a) VALUES (1);
-- finding: INSERT OR REPLACE

-- case: tricky_replace_unique_index_key
-- setup:
CREATE TABLE grades (student_id INTEGER NOT NULL, subject TEXT NOT NULL, grade REAL);
CREATE UNIQUE INDEX ux_grades ON grades (student_id, subject);
INSERT INTO grades VALUES (1, 'math', 70);
-- sqlite:
INSERT OR REPLACE INTO grades (student_id, subject, grade) VALUES (1, 'math', 95);
-- postgres:
INSERT INTO grades (student_id, subject, grade) VALUES (1, 'math', 95) ON CONFLICT(student_id, subject) DO UPDATE SET grade = excluded.grade;
-- check:
SELECT student_id, subject, grade FROM grades

-- case: tricky_datetime_modifiers
-- setup:
CREATE TABLE s (id INTEGER PRIMARY KEY, at DATETIME);
-- sqlite:
CREATE VIEW v AS SELECT id FROM s WHERE at BETWEEN datetime('now', '-7 days', 'start of day') AND datetime('now', '+1 hour');
-- postgres:
CREATE VIEW v AS SELECT id FROM s WHERE at BETWEEN (DATE_TRUNC('DAY', (CURRENT_TIMESTAMP AT TIME ZONE 'UTC') - INTERVAL '7 DAYS')) AND ((CURRENT_TIMESTAMP AT TIME ZONE 'UTC') + INTERVAL '1 HOURS');

-- case: tricky_date_now
-- setup:
CREATE TABLE s (id INTEGER PRIMARY KEY, day DATE);
-- sqlite:
UPDATE s SET day = date('now') WHERE day IS NULL;
-- postgres:
UPDATE s SET day = CAST((CURRENT_TIMESTAMP AT TIME ZONE 'UTC') AS DATE) WHERE day IS NULL;

-- case: tricky_date_of_column
-- setup:
CREATE TABLE s (id INTEGER PRIMARY KEY, at DATETIME);
-- sqlite:
CREATE VIEW per_day AS SELECT date(at) AS day, count(*) AS n FROM s GROUP BY date(at);
-- postgres:
CREATE VIEW per_day AS SELECT CAST(CAST(at AS TIMESTAMP) AS DATE) AS day, COUNT(*) AS n FROM s GROUP BY CAST(CAST(at AS TIMESTAMP) AS DATE);

-- case: tricky_strftime_format
-- setup:
CREATE TABLE s (id INTEGER PRIMARY KEY, at DATETIME);
-- sqlite:
CREATE VIEW months AS SELECT strftime('%Y-%m', at) AS month FROM s;
-- postgres:
CREATE VIEW months AS SELECT TO_CHAR(CAST(at AS TIMESTAMP), 'YYYY"-"MM') AS month FROM s;

-- case: tricky_localtime_modifier
-- sqlite:
SELECT datetime('now', 'localtime');
-- finding: modifier

-- case: tricky_weekday_modifier_with_fraction
-- sqlite:
SELECT date('now', 'weekday 1.5');
-- finding: modifier

-- case: tricky_strftime_iso_week
-- sqlite:
SELECT strftime('%V', 'now');
-- finding: %V

-- case: tricky_julianday_localtime
-- sqlite:
SELECT julianday('now', 'localtime') - julianday('2025-01-01');
-- finding: modifier

-- case: tricky_last_insert_rowid
-- sqlite:
SELECT last_insert_rowid();
-- finding: last_insert_rowid

-- case: tricky_glob
-- setup:
CREATE TABLE f (name TEXT, size INTEGER);
INSERT INTO f VALUES ('001_init.sql', 10), ('README', 200), ('x.SQL', 3), (NULL, NULL);
-- sqlite:
CREATE VIEW migrations AS SELECT name FROM f WHERE name GLOB '[0-9]*.sql' OR size GLOB '2*';
-- postgres:
CREATE VIEW migrations AS SELECT name FROM f WHERE name ~ '^[0-9].*\.sql$' OR CAST(size AS TEXT) ~ '^2.*$';
-- check:
SELECT name FROM migrations ORDER BY name

-- case: tricky_glob_of_a_computed_pattern
-- setup:
CREATE TABLE f (name TEXT, ext TEXT);
-- sqlite:
SELECT name FROM f WHERE name GLOB '*.' || ext;
-- finding: GLOB

-- case: tricky_random
-- sqlite:
SELECT abs(random()) % 100;
-- finding: random

-- case: tricky_json_extract
-- setup:
CREATE TABLE e (id INTEGER PRIMARY KEY, metadata TEXT);
-- sqlite:
SELECT json_extract(metadata, '$.page') FROM e;
-- finding: json_extract

-- case: tricky_collate_nocase
-- sqlite:
CREATE TABLE u (email TEXT COLLATE NOCASE UNIQUE);
-- finding: COLLATE NOCASE

-- case: tricky_untyped_column
-- sqlite:
CREATE TABLE loose (a, b TEXT);
-- finding: column a

-- case: tricky_constraint_conflict_clause
-- sqlite:
CREATE TABLE u (email TEXT UNIQUE ON CONFLICT REPLACE);
-- finding: ON CONFLICT

-- case: tricky_savepoint
-- sqlite:
SAVEPOINT one;
-- finding: SAVEPOINT

-- case: tricky_reserved_word_columns
-- sqlite:
CREATE TABLE audit_trail (id INTEGER PRIMARY KEY, user TEXT, "order" INTEGER, "Group" TEXT, limit_value INTEGER);
-- postgres:
CREATE TABLE audit_trail (
  id BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
  "user" TEXT,
  "order" BIGINT,
  "group" TEXT,
  limit_value BIGINT
);

-- case: tricky_blob_and_types
-- sqlite:
CREATE TABLE files (id INTEGER PRIMARY KEY, data BLOB, size INT8, ratio FLOAT, price DECIMAL(10,2), code CHAR(3), label VARCHAR(40), small TINYINT, mid MEDIUMINT, flag BOOL, at TIMESTAMP, d DATE, doc JSON);
-- postgres:
CREATE TABLE files (
  id BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
  data BYTEA,
  size BIGINT,
  ratio DOUBLE PRECISION,
  price DECIMAL(10, 2),
  code VARCHAR(3),
  label VARCHAR(40),
  small SMALLINT,
  mid INT,
  flag BOOLEAN,
  at TIMESTAMP,
  d DATE,
  doc JSON
);

-- case: tricky_affinity_type
-- sqlite:
CREATE TABLE odd (a STRINGISH, b SOMETHING);
-- postgres:
CREATE TABLE odd (
  a DECIMAL,
  b DECIMAL
);
-- note: affinity

-- case: tricky_explicit_ids_move_sequence
-- setup:
CREATE TABLE roles (id INTEGER PRIMARY KEY AUTOINCREMENT, name TEXT NOT NULL);
-- sqlite:
INSERT INTO roles (id, name) VALUES (1, 'admin'), (2, 'teacher');
INSERT INTO roles (name) VALUES ('student');
-- postgres:
INSERT INTO roles (id, name) VALUES (1, 'admin'), (2, 'teacher');
SELECT setval(pg_get_serial_sequence('"roles"', 'id'), coalesce((SELECT max("id") FROM "roles"), 0) + 1, false);
INSERT INTO roles (name) VALUES ('student');
-- check:
SELECT id, name FROM roles ORDER BY id

-- case: tricky_composite_primary_key
-- sqlite:
CREATE TABLE enrolments (student_id INTEGER NOT NULL, class_id INTEGER NOT NULL, PRIMARY KEY (student_id, class_id));
-- postgres:
CREATE TABLE enrolments (
  student_id BIGINT NOT NULL,
  class_id BIGINT NOT NULL,
  PRIMARY KEY (student_id, class_id)
);

-- case: tricky_int_primary_key_is_not_rowid
-- sqlite:
CREATE TABLE codes (code INT PRIMARY KEY, label TEXT);
-- postgres:
CREATE TABLE codes (
  code BIGINT PRIMARY KEY,
  label TEXT
);

-- case: tricky_insert_or_abort
-- setup:
CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT);
-- sqlite:
INSERT OR ABORT INTO t (v) VALUES ('x');
-- postgres:
INSERT INTO t (v) VALUES ('x');
-- note: INSERT OR ABORT

-- case: tricky_update_trigger_touch
-- setup:
CREATE TABLE users (id INTEGER PRIMARY KEY AUTOINCREMENT, name TEXT, updated_at DATETIME DEFAULT CURRENT_TIMESTAMP);
INSERT INTO users (name) VALUES ('a');
-- sqlite:
CREATE TRIGGER users_touch AFTER UPDATE ON users FOR EACH ROW
BEGIN
    UPDATE users SET updated_at = CURRENT_TIMESTAMP WHERE id = NEW.id;
END;
UPDATE users SET name = 'b';
-- postgres:
CREATE OR REPLACE FUNCTION "users_touch_fn"() RETURNS trigger LANGUAGE plpgsql AS $fn$
BEGIN
  NEW."updated_at" := (CURRENT_TIMESTAMP AT TIME ZONE 'UTC');
  RETURN NEW;
END
$fn$;
CREATE TRIGGER "users_touch" BEFORE UPDATE ON "users" FOR EACH ROW EXECUTE FUNCTION "users_touch_fn"();
UPDATE users SET name = 'b';
-- note: BEFORE trigger
-- check:
SELECT name, updated_at IS NOT NULL FROM users

-- case: tricky_audit_trigger
-- setup:
CREATE TABLE users (id INTEGER PRIMARY KEY AUTOINCREMENT, email TEXT);
CREATE TABLE deleted_users (id INTEGER, email TEXT);
INSERT INTO users (email) VALUES ('a@x'), ('b@x');
-- sqlite:
CREATE TRIGGER users_deleted AFTER DELETE ON users
BEGIN
    INSERT INTO deleted_users (id, email) VALUES (OLD.id, OLD.email);
END;
DELETE FROM users WHERE email = 'a@x';
-- postgres:
CREATE OR REPLACE FUNCTION "users_deleted_fn"() RETURNS trigger LANGUAGE plpgsql AS $fn$
BEGIN
  INSERT INTO deleted_users (id, email) VALUES (old.id, old.email);
  RETURN NULL;
END
$fn$;
CREATE TRIGGER "users_deleted" AFTER DELETE ON "users" FOR EACH ROW EXECUTE FUNCTION "users_deleted_fn"();
DELETE FROM users WHERE email = 'a@x';
-- check:
SELECT id, email FROM deleted_users

-- case: tricky_raise_trigger
-- setup:
CREATE TABLE grades (id INTEGER PRIMARY KEY, grade REAL);
-- sqlite:
CREATE TRIGGER grades_check BEFORE INSERT ON grades
WHEN NEW.grade > 100
BEGIN
    SELECT RAISE(ABORT, 'grade above 100');
END;
INSERT INTO grades (id, grade) VALUES (1, 90);
-- postgres:
CREATE OR REPLACE FUNCTION "grades_check_fn"() RETURNS trigger LANGUAGE plpgsql AS $fn$
BEGIN
  RAISE EXCEPTION '%', 'grade above 100';
  RETURN NEW;
END
$fn$;
CREATE TRIGGER "grades_check" BEFORE INSERT ON "grades" FOR EACH ROW WHEN (new.grade > 100) EXECUTE FUNCTION "grades_check_fn"();
INSERT INTO grades (id, grade) VALUES (1, 90);
SELECT setval(pg_get_serial_sequence('"grades"', 'id'), coalesce((SELECT max("id") FROM "grades"), 0) + 1, false);
-- check:
SELECT id, grade FROM grades

-- case: tricky_raise_where_trigger
-- setup:
CREATE TABLE users (id INTEGER PRIMARY KEY, role TEXT);
CREATE TABLE assignments (id INTEGER PRIMARY KEY, teacher_id INTEGER);
-- sqlite:
CREATE TRIGGER assignments_teacher BEFORE INSERT ON assignments
BEGIN
    SELECT RAISE(ABORT, 'teacher_id must be a teacher') WHERE (SELECT role FROM users WHERE id = NEW.teacher_id) IS NOT 'teacher';
END;
-- postgres:
CREATE OR REPLACE FUNCTION "assignments_teacher_fn"() RETURNS trigger LANGUAGE plpgsql AS $fn$
BEGIN
  IF EXISTS (SELECT 1 WHERE (SELECT role FROM users WHERE id = new.teacher_id) IS DISTINCT FROM 'teacher') THEN
    RAISE EXCEPTION '%', 'teacher_id must be a teacher';
  END IF;
  RETURN NEW;
END
$fn$;
CREATE TRIGGER "assignments_teacher" BEFORE INSERT ON "assignments" FOR EACH ROW EXECUTE FUNCTION "assignments_teacher_fn"();

-- case: tricky_recursive_trigger
-- setup:
CREATE TABLE t (id INTEGER PRIMARY KEY, n INTEGER);
-- sqlite:
CREATE TRIGGER t_ins AFTER INSERT ON t BEGIN INSERT INTO t (n) VALUES (NEW.n + 1); END;
-- finding: trigger writing its own table

-- case: tricky_raise_ignore
-- setup:
CREATE TABLE t (id INTEGER PRIMARY KEY, n INTEGER);
-- sqlite:
CREATE TRIGGER t_skip BEFORE INSERT ON t WHEN NEW.n < 0 BEGIN SELECT RAISE(IGNORE); END;
-- finding: RAISE(IGNORE)

-- case: tricky_drop_trigger
-- setup:
CREATE TABLE t (id INTEGER PRIMARY KEY, n INTEGER);
CREATE TABLE log (n INTEGER);
CREATE TRIGGER t_log AFTER INSERT ON t BEGIN INSERT INTO log VALUES (NEW.n); END;
-- sqlite:
DROP TRIGGER t_log;
-- postgres:
DROP TRIGGER IF EXISTS "t_log" ON "t";
DROP FUNCTION IF EXISTS "t_log_fn"();

-- case: tricky_drop_unknown_trigger
-- sqlite:
DROP TRIGGER nowhere_trigger;
-- finding: DROP TRIGGER

-- case: tricky_view_if_not_exists
-- setup:
CREATE TABLE t (id INTEGER PRIMARY KEY);
-- sqlite:
CREATE VIEW IF NOT EXISTS tv AS SELECT id FROM t;
-- postgres:
CREATE OR REPLACE VIEW tv AS SELECT id FROM t;
-- note: CREATE VIEW IF NOT EXISTS

-- case: tricky_max_two_args
-- setup:
CREATE TABLE t (a INTEGER, b INTEGER);
-- sqlite:
CREATE VIEW tv AS SELECT max(a, b) AS m FROM t;
-- postgres:
CREATE VIEW tv AS SELECT GREATEST(a, b) AS m FROM t;
-- note: GREATEST

-- case: tricky_group_concat
-- setup:
CREATE TABLE t (g INTEGER, name TEXT);
-- sqlite:
CREATE VIEW names AS SELECT g, group_concat(name, ', ') AS names FROM t GROUP BY g;
-- postgres:
CREATE VIEW names AS SELECT g, STRING_AGG(name, ', ') AS names FROM t GROUP BY g;

-- case: tricky_ifnull_substr_instr
-- setup:
CREATE TABLE t (name TEXT);
-- sqlite:
CREATE VIEW tv AS SELECT ifnull(name, '') AS n, substr(name, 1, 3) AS p, instr(name, '@') AS at FROM t;
-- postgres:
CREATE VIEW tv AS SELECT COALESCE(name, '') AS n, SUBSTRING(name FROM 1 FOR 3) AS p, POSITION('@' IN name) AS at FROM t;

-- case: tricky_iif
-- setup:
CREATE TABLE t (score REAL);
-- sqlite:
CREATE VIEW passed AS SELECT iif(score >= 75, 'pass', 'fail') AS result FROM t;
-- postgres:
CREATE VIEW passed AS SELECT CASE WHEN score >= 75 THEN 'pass' ELSE 'fail' END AS result FROM t;

-- case: tricky_semicolon_in_string
-- setup:
CREATE TABLE t (id INTEGER PRIMARY KEY, body TEXT NOT NULL DEFAULT 'a;b -- not a comment');
-- sqlite:
INSERT INTO t (body) VALUES ('x; y /* z */');
-- postgres:
INSERT INTO t (body) VALUES ('x; y /* z */');
-- check:
SELECT body FROM t

-- case: tricky_temp_trigger
-- setup:
CREATE TABLE t (id INTEGER PRIMARY KEY);
CREATE TABLE log (id INTEGER);
-- sqlite:
CREATE TEMP TRIGGER tt AFTER INSERT ON t BEGIN INSERT INTO log VALUES (NEW.id); END;
-- finding: TEMP TRIGGER

-- case: tricky_typeof
-- sqlite:
SELECT typeof(1);
-- finding: typeof

-- case: tricky_printf
-- sqlite:
SELECT printf('%05d', 42);
-- finding: printf

-- case: tricky_create_table_as_select_unparsed_is_not_joined
-- A CREATE TABLE … AS SELECT sqlglot cannot parse: its subquery's words were joined as a column
-- type's (IN (SELECT id_from_e_where_…)), and the garbled statement emitted without a word.
-- setup:
CREATE TABLE e (id INTEGER PRIMARY KEY, b TEXT, c TEXT, d TEXT);
-- sqlite:
CREATE TABLE h AS SELECT id FROM e WHERE id IN (SELECT id FROM e WHERE b LIKE c ESCAPE d);
-- finding: unparsed SQL

-- case: tricky_column_types_of_several_words
-- SQLite reads any run of words as a column's type (its documentation's UNSIGNED BIG INT,
-- VARYING CHARACTER(255), NATIVE CHARACTER(70); old SQLite ports' Firebird BLOB SUB_TYPE TEXT);
-- sqlglot stopped on the second word, and the table was withheld with all that needs it.
-- sqlite:
CREATE TABLE buku (buku_id INTEGER PRIMARY KEY, sinopsis BLOB SUB_TYPE TEXT DEFAULT NULL, views UNSIGNED BIG INT NOT NULL, kode VARYING CHARACTER(9), nama NATIVE CHARACTER(70), catatan LONG VARCHAR, CONSTRAINT buku_kode UNIQUE (kode));
ALTER TABLE buku ADD COLUMN rating VARYING CHARACTER(10) DEFAULT 'G';
-- postgres:
CREATE TABLE buku (buku_id BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY, sinopsis TEXT DEFAULT NULL, views BIGINT NOT NULL, kode VARCHAR(9), nama VARCHAR(70), catatan TEXT, CONSTRAINT buku_kode UNIQUE (kode));
ALTER TABLE buku ADD COLUMN rating VARCHAR(10) DEFAULT 'G';
-- check:
SELECT count(*), min(rating) FROM buku

-- case: tricky_insert_naming_the_rowid_column
-- (`INSERT INTO t (rowid, …)` writes the INTEGER PRIMARY KEY in SQLite; PostgreSQL refused the
-- name and the mirror's `up` failed. The app's next INSERT takes the id after them.)
-- setup:
CREATE TABLE kelas (id INTEGER PRIMARY KEY, nama TEXT);
-- sqlite:
INSERT INTO kelas (rowid, nama) VALUES (9, 'X');
INSERT INTO kelas (_rowid_, nama) SELECT 11, 'Y';
INSERT INTO kelas (nama) VALUES ('app');
-- postgres:
INSERT INTO kelas (id, nama) VALUES (9, 'X');
SELECT setval(pg_get_serial_sequence('"kelas"', 'id'), coalesce((SELECT max("id") FROM "kelas"), 0) + 1, false);
INSERT INTO kelas (id, nama) SELECT 11, 'Y';
SELECT setval(pg_get_serial_sequence('"kelas"', 'id'), coalesce((SELECT max("id") FROM "kelas"), 0) + 1, false);
INSERT INTO kelas (nama) VALUES ('app');
-- check:
SELECT id, nama FROM kelas ORDER BY id;

-- case: tricky_insert_naming_a_rowid_a_table_lacks
-- sqlite:
CREATE TABLE catatan (isi TEXT);
INSERT INTO catatan (rowid, isi) VALUES (3, 'z');
-- finding: rowid

-- case: tricky_insert_select_the_source_s_rowid
-- (an unqualified rowid in `INSERT INTO b … SELECT rowid … FROM a` is a's, as SQLite resolves
-- it: it was refused as "not clear" since b was in scope too. The app's next INSERT takes 8.)
-- setup:
CREATE TABLE kelas_lama (id INTEGER PRIMARY KEY, nama TEXT);
CREATE TABLE kelas (id INTEGER PRIMARY KEY, nama TEXT);
INSERT INTO kelas_lama VALUES (4, 'A'), (7, 'B');
-- sqlite:
INSERT INTO kelas (rowid, nama) SELECT rowid, nama FROM kelas_lama WHERE rowid > 1;
INSERT INTO kelas (nama) VALUES ('app');
-- postgres:
INSERT INTO kelas (id, nama) SELECT id, nama FROM kelas_lama WHERE id > 1;
SELECT setval(pg_get_serial_sequence('"kelas"', 'id'), coalesce((SELECT max("id") FROM "kelas"), 0) + 1, false);
INSERT INTO kelas (nama) VALUES ('app');
-- check:
SELECT id, nama FROM kelas ORDER BY id

-- case: tricky_view_selecting_the_rowid
-- (`CREATE VIEW … SELECT rowid …`, and `CREATE TABLE … AS SELECT rowid …`, were emitted
-- unchanged: the mirror's `up` failed on the name. SQLite names the view's column the INTEGER
-- PRIMARY KEY's, as the renamed one is: the check reads it as `id` on both.)
-- setup:
CREATE TABLE siswa (id INTEGER PRIMARY KEY, nama TEXT);
INSERT INTO siswa VALUES (3, 'A'), (8, 'B');
-- sqlite:
CREATE VIEW siswa_urut AS SELECT rowid, nama FROM siswa ORDER BY rowid;
CREATE VIEW siswa_kunci AS SELECT s._rowid_ AS rid FROM siswa s;
CREATE TABLE siswa_salinan AS SELECT oid, nama FROM siswa;
-- postgres:
CREATE VIEW siswa_urut AS SELECT id, nama FROM siswa ORDER BY id NULLS FIRST;
CREATE VIEW siswa_kunci AS SELECT s.id AS rid FROM siswa AS s;
CREATE TABLE siswa_salinan AS SELECT id, nama FROM siswa;
-- check:
SELECT u.id, u.nama, k.rid, c.id FROM siswa_urut u JOIN siswa_kunci k ON k.rid = u.id JOIN siswa_salinan c ON c.id = u.id ORDER BY u.id

-- case: tricky_view_selecting_a_rowid_a_table_lacks
-- sqlite:
CREATE TABLE catatan_lain (isi TEXT);
CREATE VIEW catatan_lain_v AS SELECT rowid, isi FROM catatan_lain;
-- finding: rowid
