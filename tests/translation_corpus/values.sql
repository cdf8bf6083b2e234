-- Values SQLite stores as it computes them: a truth value (a comparison, AND/OR/NOT, IS, IN,
-- LIKE, EXISTS, TRUE/FALSE) is the integer 1 or 0 in SQLite, a boolean in PostgreSQL, which an
-- integer column refuses and a TEXT column stores as 'true'.

-- case: truth_values_stored_as_integers
-- setup:
CREATE TABLE orders (id INTEGER PRIMARY KEY, status TEXT, due TEXT);
INSERT INTO orders (id, status, due) VALUES (1, 'paid', '2024-12-01'), (2, 'open', '2025-02-01'), (3, NULL, NULL);
CREATE TABLE flags (id INTEGER PRIMARY KEY, is_paid INTEGER, late TEXT, done BOOLEAN, score REAL);
-- sqlite:
INSERT INTO flags (id, is_paid, late, done) SELECT id, status = 'paid', due < '2025-01-01', status = 'paid' FROM orders;
UPDATE flags SET score = TRUE, late = late || '/' || (id > 1 AND is_paid) WHERE id < 3;
INSERT INTO flags (id, is_paid, late, done) VALUES (9, 1 > 0, FALSE, 1), (10, NULL IS NULL, 'x' LIKE 'X', 0);
INSERT INTO flags (id, is_paid) VALUES (10, 0) ON CONFLICT (id) DO UPDATE SET is_paid = excluded.id IN (1, 10);
UPDATE flags SET is_paid = EXISTS (SELECT 1 FROM orders WHERE orders.id = flags.id) WHERE id = 2;
-- postgres:
INSERT INTO flags (id, is_paid, late, done) SELECT id, CAST(status = 'paid' AS INT), CAST(due < '2025-01-01' AS INT), status = 'paid' FROM orders;
SELECT setval(pg_get_serial_sequence('"flags"', 'id'), coalesce((SELECT max("id") FROM "flags"), 0) + 1, false);
UPDATE flags SET score = 1, late = late || '/' || CAST(CAST((id > 1 AND (is_paid <> 0)) AS INT) AS TEXT) WHERE id < 3;
INSERT INTO flags (id, is_paid, late, done) VALUES (9, CAST(1 > 0 AS INT), 0, TRUE), (10, CAST(NULL IS NULL AS INT), CAST('x' ILIKE 'X' AS INT), FALSE);
SELECT setval(pg_get_serial_sequence('"flags"', 'id'), coalesce((SELECT max("id") FROM "flags"), 0) + 1, false);
INSERT INTO flags (id, is_paid) VALUES (10, 0) ON CONFLICT(id) DO UPDATE SET is_paid = CAST(excluded.id IN (1, 10) AS INT);
SELECT setval(pg_get_serial_sequence('"flags"', 'id'), coalesce((SELECT max("id") FROM "flags"), 0) + 1, false);
UPDATE flags SET is_paid = CAST(EXISTS(SELECT 1 FROM orders WHERE orders.id = flags.id) AS INT) WHERE id = 2;
-- check:
SELECT id, is_paid, late, CASE WHEN done THEN 'y' WHEN NOT done THEN 'n' END, score FROM flags ORDER BY id

-- case: total_is_a_real_sum_zero_over_no_rows
-- setup:
CREATE TABLE pay (id INTEGER PRIMARY KEY, amount INTEGER, paid INTEGER, fee REAL, cls TEXT);
INSERT INTO pay VALUES (1, 100, 1, 2.5, '7A'), (2, 250, 0, 2.5, '7A'), (3, NULL, 1, NULL, '7B'), (4, 40, 1, 0.125, '7C');
-- sqlite:
CREATE VIEW per_class AS SELECT cls, total(amount) AS t, total(CASE WHEN paid THEN amount END) AS tp, total(DISTINCT fee) AS tf FROM pay GROUP BY cls;
CREATE VIEW no_rows AS SELECT total(amount) AS t FROM pay WHERE id < 0;
-- postgres:
CREATE VIEW per_class AS SELECT cls, CAST(COALESCE(SUM(amount), 0) AS DOUBLE PRECISION) AS t, CAST(COALESCE(SUM(CASE WHEN (paid <> 0) THEN amount END), 0) AS DOUBLE PRECISION) AS tp, CAST(COALESCE(SUM(DISTINCT fee), 0) AS DOUBLE PRECISION) AS tf FROM pay GROUP BY cls;
CREATE VIEW no_rows AS SELECT CAST(COALESCE(SUM(amount), 0) AS DOUBLE PRECISION) AS t FROM pay WHERE id < 0;
-- check:
SELECT cls, t, tp, tf FROM per_class UNION ALL SELECT 'none', t, t, t FROM no_rows ORDER BY 1

-- case: decimal_literals_compute_in_doubles
-- setup:
CREATE TABLE p (id INTEGER PRIMARY KEY, qty INTEGER, total REAL);
INSERT INTO p (id, qty) VALUES (1, 3), (2, 10), (3, 7), (4, NULL);
-- sqlite:
UPDATE p SET total = qty * 1.1;
CREATE VIEW priced AS SELECT id, qty * 1.0 / 7 AS share, -0.1 + qty AS shifted, qty * 1.1 = 3.3 AS exact FROM p WHERE qty * 1.1 <> 11.0;
-- postgres:
UPDATE p SET total = qty * CAST(1.1 AS DOUBLE PRECISION);
CREATE VIEW priced AS SELECT id, qty * CAST(1.0 AS DOUBLE PRECISION) / NULLIF(7, 0) AS share, CAST(-0.1 AS DOUBLE PRECISION) + qty AS shifted, qty * CAST(1.1 AS DOUBLE PRECISION) = 3.3 AS exact FROM p WHERE qty * CAST(1.1 AS DOUBLE PRECISION) <> 11.0;
-- check:
SELECT p.id, p.total, p.total = 3.3, v.share, v.shifted, CASE WHEN v.exact THEN 1 WHEN NOT v.exact THEN 0 END FROM p LEFT JOIN priced v ON v.id = p.id ORDER BY p.id

-- case: truths_in_trigger_bodies_and_upsert_conditions
-- setup:
CREATE TABLE orders (id INTEGER PRIMARY KEY, meta TEXT, paid INTEGER DEFAULT 0, flag INTEGER);
CREATE TABLE log (id INTEGER PRIMARY KEY, order_id INTEGER, was_paid INTEGER);
INSERT INTO orders (id, meta, paid, flag) VALUES (1, '{"status":"open"}', 0, 0), (2, '{"status":"open"}', 1, 1);
-- sqlite:
CREATE TRIGGER tr_paid AFTER UPDATE ON orders WHEN json_extract(NEW.meta, '$.status') = 'paid' BEGIN INSERT INTO log (order_id, was_paid) VALUES (NEW.id, OLD.paid = 1); END;
UPDATE orders SET meta = '{"status":"paid"}';
INSERT INTO orders (id, paid, flag) VALUES (1, 5, 1), (2, 6, 0) ON CONFLICT (id) DO UPDATE SET paid = excluded.paid WHERE excluded.flag;
-- postgres:
CREATE OR REPLACE FUNCTION "tr_paid_fn"() RETURNS trigger LANGUAGE plpgsql AS $fn$
BEGIN
  INSERT INTO log (order_id, was_paid) VALUES (new.id, CAST(old.paid = 1 AS INT));
  RETURN NULL;
END
$fn$;
CREATE TRIGGER "tr_paid" AFTER UPDATE ON "orders" FOR EACH ROW WHEN (NULLIF(CAST(new.meta AS JSONB) -> 'status', 'null') = CAST('"paid"' AS JSONB)) EXECUTE FUNCTION "tr_paid_fn"();
UPDATE orders SET meta = '{"status":"paid"}';
INSERT INTO orders (id, paid, flag) VALUES (1, 5, 1), (2, 6, 0) ON CONFLICT(id) DO UPDATE SET paid = excluded.paid WHERE (excluded.flag <> 0);
SELECT setval(pg_get_serial_sequence('"orders"', 'id'), coalesce((SELECT max("id") FROM "orders"), 0) + 1, false);
-- check:
SELECT 'log', order_id, was_paid FROM log UNION ALL SELECT 'orders', id, paid FROM orders ORDER BY 1, 2, 3

-- case: negative_limit_is_no_limit
-- setup:
CREATE TABLE t (id INTEGER PRIMARY KEY, flag INTEGER);
INSERT INTO t VALUES (1, 0), (2, 1), (3, 2), (4, NULL);
-- sqlite:
CREATE VIEW after_first AS SELECT id FROM t ORDER BY id LIMIT -1 OFFSET 1;
CREATE VIEW flagged AS SELECT id FROM t WHERE flag IS TRUE OR flag IS NOT FALSE AND id = 1;
-- postgres:
CREATE VIEW after_first AS SELECT id FROM t ORDER BY id NULLS FIRST LIMIT ALL OFFSET 1;
CREATE VIEW flagged AS SELECT id FROM t WHERE (flag <> 0) IS TRUE OR NOT (flag <> 0) IS FALSE AND id = 1;
-- check:
SELECT 'after_first', id FROM after_first UNION ALL SELECT 'flagged', id FROM flagged ORDER BY 1, 2

-- case: upsert_without_a_target_names_the_only_key
-- setup:
CREATE TABLE counters (name TEXT PRIMARY KEY, n INTEGER NOT NULL DEFAULT 0);
INSERT INTO counters VALUES ('visits', 5);
-- sqlite:
INSERT INTO counters (name, n) VALUES ('visits', 1), ('logins', 1) ON CONFLICT DO UPDATE SET n = n + excluded.n;
-- postgres:
INSERT INTO counters (name, n) VALUES ('visits', 1), ('logins', 1) ON CONFLICT(name) DO UPDATE SET n = counters.n + excluded.n;
-- note: the only key
-- check:
SELECT name, n FROM counters ORDER BY name

-- case: upsert_without_a_target_on_two_keys_withheld
-- setup:
CREATE TABLE users (id INTEGER PRIMARY KEY, email TEXT UNIQUE, name TEXT);
-- sqlite:
INSERT INTO users (id, email, name) VALUES (1, 'a@x', 'A') ON CONFLICT DO UPDATE SET name = excluded.name;
-- finding: ON CONFLICT DO UPDATE without a target

-- case: printf_of_text_and_integers_is_joined_text
-- setup:
CREATE TABLE s (id INTEGER PRIMARY KEY, first TEXT, last TEXT, n INTEGER, label TEXT, code TEXT);
INSERT INTO s (id, first, last, n) VALUES (1, 'Ana', 'Putri', 3), (2, 'Budi', NULL, NULL), (3, NULL, 'x%y', -7);
-- sqlite:
UPDATE s SET label = printf('%s %s (%d) 100%%', first, last, n), code = format('#%d-%s', id, 'A' || id);
-- postgres:
UPDATE s SET label = (COALESCE(CAST(first AS TEXT), '') || ' ' || COALESCE(CAST(last AS TEXT), '') || ' (' || CAST(COALESCE(n, 0) AS TEXT) || ') 100%'), code = ('#' || CAST(COALESCE(id, 0) AS TEXT) || '-' || COALESCE(CAST('A' || id AS TEXT), ''));
-- check:
SELECT id, label, code FROM s ORDER BY id

-- case: printf_of_a_real_withheld
-- setup:
CREATE TABLE s (id INTEGER PRIMARY KEY, r REAL);
-- sqlite:
SELECT printf('%s', r) FROM s;
-- finding: printf

-- case: aggregates_of_truths_and_averages_as_sqlite
-- setup:
CREATE TABLE marks (id INTEGER PRIMARY KEY, student TEXT, score INTEGER, status TEXT);
INSERT INTO marks VALUES (1, 'a', 70, 'ok'), (2, 'a', 71, 'remedial'), (3, 'a', 71, 'ok'), (4, 'b', 90, 'ok'), (5, 'b', NULL, NULL);
-- sqlite:
CREATE VIEW per_student AS SELECT student, sum(status = 'ok') AS passed, avg(score) AS mean, avg(status = 'remedial') AS remedial_rate, max(score > 80) AS any_high, avg(DISTINCT score) AS mean_distinct FROM marks GROUP BY student;
-- postgres:
CREATE VIEW per_student AS SELECT student, SUM(CAST(status = 'ok' AS INT)) AS passed, AVG(CAST(score AS DOUBLE PRECISION)) AS mean, AVG(CAST(CAST(status = 'remedial' AS INT) AS DOUBLE PRECISION)) AS remedial_rate, MAX(CAST(score > 80 AS INT)) AS any_high, AVG(DISTINCT CAST(score AS DOUBLE PRECISION)) AS mean_distinct FROM marks GROUP BY student;
-- check:
SELECT student, passed, mean, remedial_rate, any_high, mean_distinct FROM per_student ORDER BY student

-- case: truths_and_printf_in_generated_columns_and_defaults
-- sqlite:
CREATE TABLE people (id INTEGER PRIMARY KEY, age INTEGER, first TEXT, is_adult INTEGER GENERATED ALWAYS AS (age >= 18) VIRTUAL, checked INTEGER DEFAULT (1 > 0), label TEXT GENERATED ALWAYS AS (printf('%s/%d', first, age)) STORED);
INSERT INTO people (id, age, first) VALUES (1, 17, 'Ana'), (2, 18, NULL), (3, NULL, 'Cici');
-- postgres:
CREATE TABLE people (
  id BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
  age BIGINT,
  first TEXT,
  is_adult BIGINT GENERATED ALWAYS AS (CAST(age >= 18 AS INT)) STORED,
  checked BIGINT DEFAULT CAST((1 > 0) AS INT),
  label TEXT GENERATED ALWAYS AS ((COALESCE(CAST(first AS TEXT), '') || '/' || CAST(COALESCE(age, 0) AS TEXT))) STORED
);
INSERT INTO people (id, age, first) VALUES (1, 17, 'Ana'), (2, 18, NULL), (3, NULL, 'Cici');
SELECT setval(pg_get_serial_sequence('"people"', 'id'), coalesce((SELECT max("id") FROM "people"), 0) + 1, false);
-- note: became STORED
-- check:
SELECT id, is_adult, checked, label FROM people ORDER BY id

-- case: trigger_counter_reads_the_row_as_new
-- setup:
CREATE TABLE posts (id INTEGER PRIMARY KEY, title TEXT, edits INTEGER NOT NULL DEFAULT 0, score INTEGER DEFAULT 1);
INSERT INTO posts (id, title) VALUES (1, 'a'), (2, 'b');
-- sqlite:
CREATE TRIGGER posts_edits AFTER UPDATE OF title ON posts WHEN OLD.title IS NOT NEW.title BEGIN UPDATE posts SET edits = edits + 1, score = posts.score * 2 WHERE id = NEW.id; END;
UPDATE posts SET title = 'a2' WHERE id = 1;
UPDATE posts SET title = 'a3' WHERE id = 1;
UPDATE posts SET title = 'b' WHERE id = 2;
-- postgres:
CREATE OR REPLACE FUNCTION "posts_edits_fn"() RETURNS trigger LANGUAGE plpgsql AS $fn$
BEGIN
  NEW."edits" := new.edits + 1;
  NEW."score" := new.score * 2;
  RETURN NEW;
END
$fn$;
CREATE TRIGGER "posts_edits" BEFORE UPDATE OF "title" ON "posts" FOR EACH ROW WHEN (old.title IS DISTINCT FROM new.title) EXECUTE FUNCTION "posts_edits_fn"();
UPDATE posts SET title = 'a2' WHERE id = 1;
UPDATE posts SET title = 'a3' WHERE id = 1;
UPDATE posts SET title = 'b' WHERE id = 2;
-- note: became a BEFORE trigger
-- check:
SELECT id, title, edits, score FROM posts ORDER BY id

-- case: trigger_swap_of_its_own_columns_withheld
-- setup:
CREATE TABLE t (id INTEGER PRIMARY KEY, a INTEGER, b INTEGER);
-- sqlite:
CREATE TRIGGER t_swap AFTER UPDATE OF id ON t BEGIN UPDATE t SET a = b, b = a WHERE id = NEW.id; END;
-- finding: trigger writing its own table

-- case: trigger_touch_by_old_rowid
-- The touch idiom by OLD's rowid (old sample ports use NEW's): PostgreSQL's NEW has no rowid,
-- and the IF NEW."rowid" = OLD."rowid" it became failed on every UPDATE of the mirror.
-- setup:
CREATE TABLE buku (buku_id NUMERIC NOT NULL, title TEXT, last_update TEXT NOT NULL DEFAULT '2000-01-01', PRIMARY KEY (buku_id));
CREATE TABLE kelas (id INTEGER PRIMARY KEY, nama TEXT, diubah TEXT);
INSERT INTO buku (buku_id, title) VALUES (1, 'a'), (2, 'b');
INSERT INTO kelas (id, nama) VALUES (1, 'X-A'), (2, 'X-B');
-- sqlite:
CREATE TRIGGER buku_touch AFTER UPDATE ON buku BEGIN UPDATE buku SET last_update = '2026-12-07' WHERE rowid = old.rowid; END;
CREATE TRIGGER kelas_touch AFTER UPDATE OF nama ON kelas BEGIN UPDATE kelas SET diubah = 'ya' WHERE _rowid_ = OLD._rowid_; END;
UPDATE buku SET title = 'a2' WHERE buku_id = 1;
UPDATE kelas SET nama = 'X-C' WHERE id = 2;
UPDATE kelas SET id = 3, nama = 'X-D' WHERE id = 1;
-- postgres:
CREATE OR REPLACE FUNCTION "buku_touch_fn"() RETURNS trigger LANGUAGE plpgsql AS $fn$
BEGIN
  NEW."last_update" := '2026-12-07';
  RETURN NEW;
END
$fn$;
CREATE TRIGGER "buku_touch" BEFORE UPDATE ON "buku" FOR EACH ROW EXECUTE FUNCTION "buku_touch_fn"();
CREATE OR REPLACE FUNCTION "kelas_touch_fn"() RETURNS trigger LANGUAGE plpgsql AS $fn$
BEGIN
  IF NEW."id" = OLD."id" THEN
    NEW."diubah" := 'ya';
  END IF;
  RETURN NEW;
END
$fn$;
CREATE TRIGGER "kelas_touch" BEFORE UPDATE OF "nama" ON "kelas" FOR EACH ROW EXECUTE FUNCTION "kelas_touch_fn"();
UPDATE buku SET title = 'a2' WHERE buku_id = 1;
UPDATE kelas SET nama = 'X-C' WHERE id = 2;
UPDATE kelas SET id = 3, nama = 'X-D' WHERE id = 1;
-- note: became a BEFORE trigger
-- check:
SELECT f.buku_id, f.title, f.last_update, k.id, k.nama, k.diubah FROM buku f JOIN kelas k ON k.id = f.buku_id + 1 ORDER BY f.buku_id

-- case: trigger_touch_by_a_column_named_oid_withheld
-- A column named oid is that column, not the rowid: the UPDATE touches every row holding the
-- value (SQLite), which assigning NEW would not.
-- setup:
CREATE TABLE foto (id INTEGER PRIMARY KEY, oid INTEGER, diubah TEXT);
-- sqlite:
CREATE TRIGGER foto_touch AFTER UPDATE ON foto BEGIN UPDATE foto SET diubah = 'ya' WHERE oid = NEW.oid; END;
-- finding: trigger writing its own table

-- case: trigger_touch_by_rowid_without_rowid_withheld
-- A WITHOUT ROWID table has no rowid: SQLite fails the trigger on every UPDATE ("no such
-- column: rowid"), which a BEFORE trigger assigning NEW would hide.
-- setup:
CREATE TABLE nilai (kode TEXT PRIMARY KEY, skor INTEGER, diubah TEXT) WITHOUT ROWID;
-- sqlite:
CREATE TRIGGER nilai_touch AFTER UPDATE ON nilai BEGIN UPDATE nilai SET diubah = 'ya' WHERE rowid = NEW.rowid; END;
-- finding: trigger writing its own table

-- case: trigger_insert_select_with_a_cte
-- setup:
CREATE TABLE t (id INTEGER PRIMARY KEY, n INTEGER, flag INTEGER);
CREATE TABLE log (x INTEGER, f INTEGER);
-- sqlite:
CREATE TRIGGER tr AFTER INSERT ON t BEGIN INSERT INTO log (x, f) WITH c AS (SELECT count(*) AS k FROM t WHERE flag) SELECT k, NEW.n > 1 FROM c; END;
INSERT INTO t (id, n, flag) VALUES (1, 2, 1);
INSERT INTO t (id, n, flag) VALUES (2, 1, 0);
-- postgres:
CREATE OR REPLACE FUNCTION "tr_fn"() RETURNS trigger LANGUAGE plpgsql AS $fn$
BEGIN
  INSERT INTO log (x, f) WITH c AS (SELECT COUNT(*) AS k FROM t WHERE (flag <> 0)) SELECT k, CAST(new.n > 1 AS INT) FROM c;
  RETURN NULL;
END
$fn$;
CREATE TRIGGER "tr" AFTER INSERT ON "t" FOR EACH ROW EXECUTE FUNCTION "tr_fn"();
INSERT INTO t (id, n, flag) VALUES (1, 2, 1);
SELECT setval(pg_get_serial_sequence('"t"', 'id'), coalesce((SELECT max("id") FROM "t"), 0) + 1, false);
INSERT INTO t (id, n, flag) VALUES (2, 1, 0);
SELECT setval(pg_get_serial_sequence('"t"', 'id'), coalesce((SELECT max("id") FROM "t"), 0) + 1, false);
-- check:
SELECT x, f FROM log ORDER BY x, f

-- case: aggregates_of_a_boolean_column
-- setup:
CREATE TABLE tasks (id INTEGER PRIMARY KEY, grp TEXT, done BOOLEAN);
INSERT INTO tasks VALUES (1, 'a', 1), (2, 'a', 0), (3, 'a', 1), (4, 'b', 0), (5, 'b', NULL);
-- sqlite:
CREATE VIEW progress AS SELECT grp, sum(done) AS finished, avg(done) AS rate, max(done) AS any_done, total(done) AS t FROM tasks GROUP BY grp;
-- postgres:
CREATE VIEW progress AS SELECT grp, SUM(CAST(done AS INT)) AS finished, AVG(CAST(CAST(done AS INT) AS DOUBLE PRECISION)) AS rate, MAX(CAST(done AS INT)) AS any_done, CAST(COALESCE(SUM(CAST(done AS INT)), 0) AS DOUBLE PRECISION) AS t FROM tasks GROUP BY grp;
-- check:
SELECT grp, finished, rate, any_done, t FROM progress ORDER BY grp
