-- What real tools write for a SQLite/D1 database, beyond the schema: `sqlite3 .dump` (blob
-- literals, the sqlite_sequence rows of AUTOINCREMENT tables), data migrations with CAST and
-- round() as Drizzle/Prisma users write them, better-auth's millisecond defaults.

-- case: dump_blob_literals
-- setup:
CREATE TABLE files (id INTEGER PRIMARY KEY, name TEXT, data BLOB);
-- sqlite:
INSERT INTO files VALUES(1,'logo.png',X'89504e470d0a1a0a00ff');
INSERT INTO files VALUES(2,'empty',X'');
INSERT INTO files (id, name, data) VALUES (3, 'upper', X'DEADBEEF'), (4, 'none', NULL);
-- postgres:
INSERT INTO files VALUES (1, 'logo.png', DECODE('89504e470d0a1a0a00ff', 'hex'));
SELECT setval(pg_get_serial_sequence('"files"', 'id'), coalesce((SELECT max("id") FROM "files"), 0) + 1, false);
INSERT INTO files VALUES (2, 'empty', DECODE('', 'hex'));
SELECT setval(pg_get_serial_sequence('"files"', 'id'), coalesce((SELECT max("id") FROM "files"), 0) + 1, false);
INSERT INTO files (id, name, data) VALUES (3, 'upper', DECODE('deadbeef', 'hex')), (4, 'none', NULL);
SELECT setval(pg_get_serial_sequence('"files"', 'id'), coalesce((SELECT max("id") FROM "files"), 0) + 1, false);
-- check:
SELECT id, name, data FROM files ORDER BY id

-- case: dump_sqlite_sequence_sets_the_identity
-- setup:
CREATE TABLE users (id INTEGER PRIMARY KEY AUTOINCREMENT, name TEXT);
CREATE TABLE tags (id INTEGER PRIMARY KEY, name TEXT);
-- sqlite:
INSERT INTO users VALUES(1,'Ana');
INSERT INTO users VALUES(2,'Budi');
DELETE FROM sqlite_sequence;
INSERT INTO sqlite_sequence VALUES('users',41);
INSERT INTO sqlite_sequence VALUES('tags',7);
INSERT INTO users (name) VALUES ('Cici');
UPDATE sqlite_sequence SET seq = 99 WHERE name = 'users';
INSERT INTO users (name) VALUES ('Dodi');
INSERT INTO tags (name) VALUES ('x');
-- postgres:
INSERT INTO users VALUES (1, 'Ana');
SELECT setval(pg_get_serial_sequence('"users"', 'id'), coalesce((SELECT max("id") FROM "users"), 0) + 1, false);
INSERT INTO users VALUES (2, 'Budi');
SELECT setval(pg_get_serial_sequence('"users"', 'id'), coalesce((SELECT max("id") FROM "users"), 0) + 1, false);
SELECT setval(pg_get_serial_sequence('"users"', 'id'), GREATEST(41, coalesce((SELECT max("id") FROM "users"), 0)) + 1, false);
INSERT INTO users (name) VALUES ('Cici');
SELECT setval(pg_get_serial_sequence('"users"', 'id'), GREATEST(99, coalesce((SELECT max("id") FROM "users"), 0)) + 1, false);
INSERT INTO users (name) VALUES ('Dodi');
INSERT INTO tags (name) VALUES ('x');
-- note: DELETE FROM sqlite_sequence: dropped
-- note: tags is not AUTOINCREMENT
-- check:
SELECT 'u', id, name FROM users UNION ALL SELECT 't', id, name FROM tags ORDER BY 1, 2

-- case: dump_sqlite_sequence_expression_withheld
-- setup:
CREATE TABLE users (id INTEGER PRIMARY KEY AUTOINCREMENT, name TEXT);
-- sqlite:
UPDATE sqlite_sequence SET seq = seq + 1 WHERE name = 'users';
-- finding: sqlite_sequence

-- case: cast_integer_truncates_like_sqlite_and_is_64_bit
-- setup:
CREATE TABLE scores (id INTEGER PRIMARY KEY, score REAL, weight INTEGER, passed BOOLEAN, cents INTEGER, whole INTEGER, bits INTEGER, ms INTEGER, code TEXT, num INTEGER);
INSERT INTO scores (id, score, weight, passed, code) VALUES (1, 0.29, 3, 1, '12.9'), (2, -7.6, 2, 0, '-4'), (3, 2.5, 1, 1, '7'), (4, 1.15, 4, 0, '0');
-- sqlite:
UPDATE scores SET cents = CAST(score * 100 AS INTEGER), whole = CAST(score AS INT), bits = CAST(passed AS INTEGER) + CAST(score > 1 AS INTEGER), ms = CAST(1733468734.123 * 1000 AS INTEGER) + CAST(weight AS INTEGER), num = CAST(code AS INTEGER);
-- postgres:
UPDATE scores SET cents = CAST(TRUNC(CAST(score * 100 AS DOUBLE PRECISION)) AS BIGINT), whole = CAST(TRUNC(CAST(score AS DOUBLE PRECISION)) AS BIGINT), bits = CAST(passed AS INT) + CAST(score > 1 AS INT), ms = CAST(TRUNC(CAST(CAST(1733468734.123 AS DOUBLE PRECISION) * 1000 AS DOUBLE PRECISION)) AS BIGINT) + CAST(weight AS BIGINT), num = CAST(TRUNC(CAST(code AS DOUBLE PRECISION)) AS BIGINT);
-- check:
SELECT id, cents, whole, bits, ms, num FROM scores ORDER BY id

-- case: round_half_away_from_zero_with_digits
-- setup:
CREATE TABLE grades (id INTEGER PRIMARY KEY, uts REAL, uas REAL, final REAL, whole REAL);
INSERT INTO grades (id, uts, uas) VALUES (1, 80, 85), (2, 1.1, 1.2), (3, -2, -3), (4, 70.5, 70.5);
-- sqlite:
UPDATE grades SET final = round((uts + uas) / 2, 1), whole = round((uts + uas) / 2);
-- postgres:
UPDATE grades SET final = ROUND(CAST((uts + uas) / NULLIF(2, 0) AS DECIMAL), 1), whole = ROUND(CAST((uts + uas) / NULLIF(2, 0) AS DECIMAL));
-- check:
SELECT id, final, whole FROM grades ORDER BY id

-- case: rowid_dedupe_before_unique_index
-- setup:
CREATE TABLE subscribers (id INTEGER PRIMARY KEY, email TEXT NOT NULL);
INSERT INTO subscribers (id, email) VALUES (1, 'a@x'), (2, 'b@x'), (3, 'a@x'), (4, 'b@x'), (5, 'c@x');
-- sqlite:
DELETE FROM subscribers WHERE rowid NOT IN (SELECT min(rowid) FROM subscribers GROUP BY email);
UPDATE subscribers SET email = upper(email) WHERE _rowid_ = 5;
CREATE UNIQUE INDEX subscribers_email ON subscribers (email);
-- postgres:
DELETE FROM subscribers WHERE NOT id IN (SELECT MIN(id) FROM subscribers GROUP BY email);
UPDATE subscribers SET email = UPPER(email) WHERE id = 5;
CREATE UNIQUE INDEX subscribers_email ON subscribers(email);
-- check:
SELECT id, email FROM subscribers ORDER BY id

-- case: rowid_in_a_trigger_body_is_the_key_of_new
-- setup:
CREATE TABLE students (id INTEGER PRIMARY KEY AUTOINCREMENT, name TEXT NOT NULL);
CREATE TABLE student_log (student_id INTEGER, what TEXT);
-- sqlite:
CREATE TRIGGER students_log AFTER INSERT ON students BEGIN INSERT INTO student_log (student_id, what) VALUES (NEW.rowid, 'added ' || NEW.name); END;
INSERT INTO students (name) VALUES ('Ana'), ('Budi');
-- postgres:
CREATE OR REPLACE FUNCTION "students_log_fn"() RETURNS trigger LANGUAGE plpgsql AS $fn$
BEGIN
  INSERT INTO student_log (student_id, what) VALUES (new.id, 'added ' || new.name);
  RETURN NULL;
END
$fn$;
CREATE TRIGGER "students_log" AFTER INSERT ON "students" FOR EACH ROW EXECUTE FUNCTION "students_log_fn"();
INSERT INTO students (name) VALUES ('Ana'), ('Budi');
-- check:
SELECT student_id, what FROM student_log ORDER BY student_id

-- case: rowid_of_a_table_without_integer_key_withheld
-- setup:
CREATE TABLE tags (name TEXT, post_id INTEGER);
-- sqlite:
DELETE FROM tags WHERE rowid NOT IN (SELECT max(rowid) FROM tags GROUP BY name, post_id);
-- finding: rowid

-- case: substr_negative_start_counts_from_the_end
-- setup:
CREATE TABLE phones (id INTEGER PRIMARY KEY, phone TEXT, last4 TEXT, mid TEXT);
INSERT INTO phones (id, phone) VALUES (1, '081234567890'), (2, 'abc'), (3, NULL);
-- sqlite:
UPDATE phones SET last4 = substr(phone, -4), mid = substr(phone, -6, 2);
-- postgres:
UPDATE phones SET last4 = SUBSTRING(phone FROM LENGTH(phone) + 1 - 4), mid = SUBSTRING(phone FROM LENGTH(phone) + 1 - 6 FOR 2);
-- check:
SELECT id, last4, mid FROM phones ORDER BY id

-- case: substr_negative_length_withheld
-- setup:
CREATE TABLE phones (id INTEGER PRIMARY KEY, phone TEXT);
-- sqlite:
SELECT substr(phone, 5, -2) FROM phones;
-- finding: substr() with a negative length

-- case: django_jsonfield_check_json_valid
-- sqlite:
CREATE TABLE "school_student" ("id" integer NOT NULL PRIMARY KEY AUTOINCREMENT, "meta" text NOT NULL CHECK ((JSON_VALID("meta") OR "meta" IS NULL)), "extra" text NULL CHECK (json_valid("extra")));
INSERT INTO "school_student" ("meta", "extra") VALUES ('{"kelas": "7A"}', '{}'), ('[1, 2]', '"x"'), ('3', 'null');
-- postgres:
CREATE TABLE school_student (
  id BIGINT GENERATED BY DEFAULT AS IDENTITY NOT NULL PRIMARY KEY,
  meta TEXT NOT NULL CHECK ((NULLIF(CAST(meta AS JSON) IS NOT NULL, FALSE) OR meta IS NULL)),
  extra TEXT NULL CHECK (NULLIF(CAST(extra AS JSON) IS NOT NULL, FALSE))
);
INSERT INTO school_student (meta, extra) VALUES ('{"kelas": "7A"}', '{}'), ('[1, 2]', '"x"'), ('3', 'null');
-- note: json_valid() in a CHECK
-- check:
SELECT id, meta, extra FROM school_student ORDER BY id

-- case: json_valid_outside_a_check_withheld
-- setup:
CREATE TABLE docs (id INTEGER PRIMARY KEY, body TEXT);
-- sqlite:
DELETE FROM docs WHERE NOT json_valid(body);
-- finding: json_valid()

-- case: integer_columns_read_as_conditions
-- setup:
CREATE TABLE `user` (`id` text PRIMARY KEY NOT NULL, `email_verified` integer DEFAULT false NOT NULL, `banned` integer, `role` text);
CREATE TABLE `note` (`id` integer PRIMARY KEY NOT NULL, `user_id` text, `pinned` integer DEFAULT 0 NOT NULL);
INSERT INTO `user` VALUES ('a', 1, 0, NULL), ('b', 1, 2, NULL), ('c', 0, 0, NULL), ('d', 5, NULL, NULL);
INSERT INTO `note` VALUES (1, 'c', 0), (2, 'a', 0), (3, 'b', 1);
-- sqlite:
UPDATE `user` SET role = 'member' WHERE email_verified AND NOT banned;
CREATE TRIGGER note_pinned AFTER UPDATE OF pinned ON note BEGIN UPDATE `user` SET role = 'pinner' WHERE id = NEW.user_id AND NEW.pinned; END;
UPDATE note SET pinned = 1 WHERE id = 1;
DELETE FROM note WHERE NOT pinned AND user_id IN (SELECT id FROM `user` WHERE email_verified);
-- postgres:
UPDATE "user" SET role = 'member' WHERE (email_verified <> 0) AND NOT (banned <> 0);
CREATE OR REPLACE FUNCTION "note_pinned_fn"() RETURNS trigger LANGUAGE plpgsql AS $fn$
BEGIN
  UPDATE "user" SET role = 'pinner' WHERE id = new.user_id AND (new.pinned <> 0);
  RETURN NULL;
END
$fn$;
CREATE TRIGGER "note_pinned" AFTER UPDATE OF "pinned" ON "note" FOR EACH ROW EXECUTE FUNCTION "note_pinned_fn"();
UPDATE note SET pinned = 1 WHERE id = 1;
DELETE FROM note WHERE NOT (pinned <> 0) AND user_id IN (SELECT id FROM "user" WHERE (email_verified <> 0));
-- check:
SELECT u.id, u.role, n.id, n.pinned FROM "user" u LEFT JOIN note n ON n.user_id = u.id ORDER BY u.id

-- case: trigger_header_with_begin_inside_quotes
-- setup:
CREATE TABLE "jadwal" ("id" INTEGER PRIMARY KEY, "begin" TEXT, "end" TEXT, "catatan" TEXT);
CREATE TABLE "log" ("id" INTEGER PRIMARY KEY, "msg" TEXT);
-- sqlite:
CREATE TRIGGER "jadwal_cek" AFTER INSERT ON "jadwal"
WHEN NEW."begin" > NEW."end" OR NEW."catatan" = 'BEGIN; END'
BEGIN
  /* a comment ; with END; inside */
  INSERT INTO "log" ("msg") VALUES ('terbalik: ' || NEW."begin" || '-' || NEW."end"); -- END;
END;
INSERT INTO "jadwal" ("begin", "end", "catatan") VALUES ('07:00', '08:00', 'ok'), ('09:00', '08:00', 'x'), ('07:00', '08:00', 'BEGIN; END');
-- postgres:
CREATE OR REPLACE FUNCTION "jadwal_cek_fn"() RETURNS trigger LANGUAGE plpgsql AS $fn$
BEGIN
  INSERT INTO log (msg) VALUES ('terbalik: ' || new."begin" || '-' || new."end");
  RETURN NULL;
END
$fn$;
CREATE TRIGGER "jadwal_cek" AFTER INSERT ON "jadwal" FOR EACH ROW WHEN (new."begin" > new."end" OR new.catatan = 'BEGIN; END') EXECUTE FUNCTION "jadwal_cek_fn"();
INSERT INTO jadwal ("begin", "end", catatan) VALUES ('07:00', '08:00', 'ok'), ('09:00', '08:00', 'x'), ('07:00', '08:00', 'BEGIN; END');
-- check:
SELECT "id", "msg" FROM "log" ORDER BY "id"

-- case: trigger_touch_where_old_key_in_a_text_column
-- setup:
CREATE TABLE settings (id INTEGER PRIMARY KEY, v TEXT, updated_at TEXT);
INSERT INTO settings (id, v, updated_at) VALUES (1, 'a', '2000-01-01 00:00:00'), (2, 'b', '2000-01-01 00:00:00');
-- sqlite:
CREATE TRIGGER IF NOT EXISTS update_settings_timestamp
AFTER UPDATE ON settings
BEGIN
    UPDATE settings SET updated_at = CURRENT_TIMESTAMP WHERE id = OLD.id;
END;
UPDATE settings SET v = 'c' WHERE id = 1;
UPDATE settings SET id = 3, v = 'moved' WHERE id = 2;
-- postgres:
CREATE OR REPLACE FUNCTION "update_settings_timestamp_fn"() RETURNS trigger LANGUAGE plpgsql AS $fn$
BEGIN
  IF NEW."id" = OLD."id" THEN
    NEW."updated_at" := TO_CHAR((CURRENT_TIMESTAMP AT TIME ZONE 'UTC'), 'YYYY-MM-DD HH24:MI:SS');
  END IF;
  RETURN NEW;
END
$fn$;
CREATE OR REPLACE TRIGGER "update_settings_timestamp" BEFORE UPDATE ON "settings" FOR EACH ROW EXECUTE FUNCTION "update_settings_timestamp_fn"();
UPDATE settings SET v = 'c' WHERE id = 1;
UPDATE settings SET id = 3, v = 'moved' WHERE id = 2;
-- check:
SELECT id, v, length(updated_at), updated_at > '2020' FROM settings ORDER BY id

-- case: trigger_touch_of_other_rows_withheld
-- setup:
CREATE TABLE students (id INTEGER PRIMARY KEY, class_id INTEGER, name TEXT, class_touched_at TEXT);
-- sqlite:
CREATE TRIGGER touch_class AFTER UPDATE ON students BEGIN UPDATE students SET class_touched_at = CURRENT_TIMESTAMP WHERE class_id = NEW.class_id; END;
-- finding: trigger writing its own table

-- case: group_concat_of_numbers
-- setup:
CREATE TABLE enrolments (id INTEGER PRIMARY KEY, class_id INTEGER NOT NULL, student TEXT NOT NULL);
INSERT INTO enrolments VALUES (1, 7, 'Ana'), (2, 7, 'Budi'), (3, 8, 'Cici'), (4, 7, 'Ana');
CREATE TABLE class_summary (class_id INTEGER PRIMARY KEY, ids TEXT, names TEXT);
-- sqlite:
INSERT INTO class_summary (class_id, ids, names) SELECT class_id, group_concat(id), group_concat(DISTINCT student) FROM enrolments GROUP BY class_id;
-- postgres:
INSERT INTO class_summary (class_id, ids, names) SELECT class_id, STRING_AGG(CAST(id AS TEXT), ','), STRING_AGG(DISTINCT student, ',') FROM enrolments GROUP BY class_id;
SELECT setval(pg_get_serial_sequence('"class_summary"', 'class_id'), coalesce((SELECT max("class_id") FROM "class_summary"), 0) + 1, false);
-- check:
SELECT class_id, length(ids), length(names) FROM class_summary ORDER BY class_id

-- case: collate_binary_in_an_index_and_order_by
-- setup:
CREATE TABLE codes (code TEXT NOT NULL, label TEXT);
INSERT INTO codes VALUES ('B', 'x'), ('a', 'y'), ('A', 'z');
-- sqlite:
CREATE UNIQUE INDEX codes_code ON codes (code COLLATE BINARY);
CREATE VIEW codes_sorted AS SELECT code, label FROM codes ORDER BY code COLLATE BINARY;
-- postgres:
CREATE UNIQUE INDEX codes_code ON codes(code COLLATE "C");
CREATE VIEW codes_sorted AS SELECT code, label FROM codes ORDER BY code COLLATE "C" NULLS FIRST;
-- check:
SELECT code, label FROM codes_sorted

-- case: collate_rtrim_in_an_index_withheld
-- setup:
CREATE TABLE codes (code TEXT NOT NULL);
-- sqlite:
CREATE UNIQUE INDEX codes_code ON codes (code COLLATE RTRIM);
-- finding: COLLATE RTRIM

-- case: concat_of_two_numbers
-- setup:
CREATE TABLE students (id INTEGER PRIMARY KEY, grade INTEGER NOT NULL, class_no INTEGER NOT NULL, code TEXT);
CREATE TABLE log (id INTEGER PRIMARY KEY, msg TEXT);
INSERT INTO students (id, grade, class_no) VALUES (1, 7, 2), (2, 8, 11);
-- sqlite:
UPDATE students SET code = grade || class_no || '-' || id;
CREATE TRIGGER students_log AFTER INSERT ON students BEGIN INSERT INTO log (msg) VALUES (NEW.grade || NEW.class_no); END;
INSERT INTO students (id, grade, class_no) VALUES (3, 9, 4);
-- postgres:
UPDATE students SET code = CAST(grade AS TEXT) || class_no || '-' || id;
CREATE OR REPLACE FUNCTION "students_log_fn"() RETURNS trigger LANGUAGE plpgsql AS $fn$
BEGIN
  INSERT INTO log (msg) VALUES (CAST(new.grade AS TEXT) || new.class_no);
  RETURN NULL;
END
$fn$;
CREATE TRIGGER "students_log" AFTER INSERT ON "students" FOR EACH ROW EXECUTE FUNCTION "students_log_fn"();
INSERT INTO students (id, grade, class_no) VALUES (3, 9, 4);
SELECT setval(pg_get_serial_sequence('"students"', 'id'), coalesce((SELECT max("id") FROM "students"), 0) + 1, false);
-- check:
SELECT s.id, s.code, l.msg FROM students s LEFT JOIN log l ON l.msg = CAST(s.grade AS TEXT) || CAST(s.class_no AS TEXT) ORDER BY s.id

-- case: simple_case_value_is_no_condition
-- setup:
CREATE TABLE marks (id INTEGER PRIMARY KEY, got INTEGER, wanted INTEGER, verdict TEXT);
INSERT INTO marks (id, got, wanted) VALUES (1, 5, 5), (2, 3, 0), (3, 0, 2);
-- sqlite:
UPDATE marks SET verdict = CASE got WHEN wanted THEN 'same' ELSE 'differs' END WHERE wanted;
-- postgres:
UPDATE marks SET verdict = CASE got WHEN wanted THEN 'same' ELSE 'differs' END WHERE (wanted <> 0);
-- check:
SELECT id, verdict FROM marks ORDER BY id

-- case: group_concat_of_numbers_in_order
-- setup:
CREATE TABLE enrolments (id INTEGER PRIMARY KEY, class_id INTEGER NOT NULL);
-- sqlite:
SELECT class_id, group_concat(id ORDER BY id DESC) FROM enrolments GROUP BY class_id;
-- postgres:
SELECT class_id, STRING_AGG(CAST(id AS TEXT), ',' ORDER BY id DESC NULLS LAST) FROM enrolments GROUP BY class_id;

-- case: integer_column_as_a_trigger_when
-- setup:
CREATE TABLE note (id INTEGER PRIMARY KEY, pinned INTEGER NOT NULL DEFAULT 0, body TEXT);
CREATE TABLE pins (note_id INTEGER);
INSERT INTO note (id, body) VALUES (1, 'a'), (2, 'b');
-- sqlite:
CREATE TRIGGER note_pinned AFTER UPDATE OF pinned ON note WHEN NEW.pinned BEGIN INSERT INTO pins (note_id) VALUES (NEW.id); END;
UPDATE note SET pinned = 1 WHERE id = 2;
UPDATE note SET pinned = 0 WHERE id = 1;
-- postgres:
CREATE OR REPLACE FUNCTION "note_pinned_fn"() RETURNS trigger LANGUAGE plpgsql AS $fn$
BEGIN
  INSERT INTO pins (note_id) VALUES (new.id);
  RETURN NULL;
END
$fn$;
CREATE TRIGGER "note_pinned" AFTER UPDATE OF "pinned" ON "note" FOR EACH ROW WHEN ((new.pinned <> 0)) EXECUTE FUNCTION "note_pinned_fn"();
UPDATE note SET pinned = 1 WHERE id = 2;
UPDATE note SET pinned = 0 WHERE id = 1;
-- check:
SELECT note_id FROM pins ORDER BY note_id

-- case: remainder_of_integers_and_by_zero
-- setup:
CREATE TABLE m (id INTEGER PRIMARY KEY, a INTEGER, b INTEGER, r REAL, x INTEGER, y INTEGER, z INTEGER);
INSERT INTO m (id, a, b, r) VALUES (1, 7, 0, 7.5), (2, 7, 2, -7.5), (3, -7, 3, 2.9);
-- sqlite:
UPDATE m SET x = a % b, y = r % 2, z = a % r;
-- postgres:
UPDATE m SET x = a % NULLIF(b, 0), y = CAST(TRUNC(CAST(r AS DOUBLE PRECISION)) AS BIGINT) % 2, z = a % NULLIF(CAST(TRUNC(CAST(r AS DOUBLE PRECISION)) AS BIGINT), 0);
-- check:
SELECT id, x, y, z FROM m ORDER BY id
