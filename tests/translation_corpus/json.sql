-- JSON kept in TEXT columns (D1's docs, Drizzle's text({ mode: 'json' }), Django's JSONField):
-- json_extract / ->> / -> become jsonb paths where jsonb means exactly what SQLite computes
-- (the check runs on both databases over values of every JSON kind), and are withheld with
-- the reason elsewhere; JSON functions sqlglot would write out under other names are withheld.

-- case: json_extract_compared_with_strings_is_exact
-- setup:
CREATE TABLE orders (id INTEGER PRIMARY KEY, meta TEXT NOT NULL);
INSERT INTO orders (id, meta) VALUES (1, '{"status":"paid","user":{"role":"admin"},"items":[{"sku":"a"}]}'), (2, '{"status":"PAID","user":{"role":"guru"},"items":[]}'), (3, '{"status":5,"user":{"role":1},"items":null}'), (4, '{"status":null,"user":"admin"}'), (5, '{"status":true,"user":{"role":["admin"]}}'), (6, '{"status":{"a":1},"user":{}}'), (7, '{}'), (8, '[{"status":"paid"}]'), (9, '{"status":"5","user":{"role":"x''y"},"items":[null]}'), (10, '{"status":"paid ","items":{"0":1}}');
-- sqlite:
CREATE VIEW paid AS SELECT id FROM orders WHERE json_extract(meta, '$.status') = 'paid';
CREATE VIEW unpaid AS SELECT id FROM orders WHERE meta ->> 'status' <> 'paid';
CREATE VIEW staff AS SELECT id FROM orders WHERE meta ->> '$.user.role' IN ('admin', 'guru', 'x''y');
CREATE VIEW not_staff AS SELECT id FROM orders WHERE json_extract(meta, '$.user.role') NOT IN ('admin', 'guru');
CREATE VIEW five AS SELECT id FROM orders WHERE '5' = json_extract(meta, '$.status');
CREATE VIEW no_status AS SELECT id FROM orders WHERE json_extract(meta, '$.status') IS NULL;
CREATE VIEW has_first_item AS SELECT id FROM orders WHERE meta -> '$.items[0]' IS NOT NULL;
CREATE VIEW first_sku AS SELECT id FROM orders WHERE meta -> 'items' -> 0 ->> 'sku' = 'a';
CREATE VIEW flags AS SELECT id, json_extract(meta, '$.status') = 'paid' AS is_paid, meta ->> 'status' IS NULL AS open FROM orders;
-- postgres:
CREATE VIEW paid AS SELECT id FROM orders WHERE NULLIF(CAST(meta AS JSONB) -> 'status', 'null') = CAST('"paid"' AS JSONB);
CREATE VIEW unpaid AS SELECT id FROM orders WHERE NULLIF(CAST(meta AS JSONB) -> 'status', 'null') <> CAST('"paid"' AS JSONB);
CREATE VIEW staff AS SELECT id FROM orders WHERE NULLIF(CAST(meta AS JSONB) -> 'user' -> 'role', 'null') IN (CAST('"admin"' AS JSONB), CAST('"guru"' AS JSONB), CAST('"x''y"' AS JSONB));
CREATE VIEW not_staff AS SELECT id FROM orders WHERE NOT NULLIF(CAST(meta AS JSONB) -> 'user' -> 'role', 'null') IN (CAST('"admin"' AS JSONB), CAST('"guru"' AS JSONB));
CREATE VIEW five AS SELECT id FROM orders WHERE CAST('"5"' AS JSONB) = NULLIF(CAST(meta AS JSONB) -> 'status', 'null');
CREATE VIEW no_status AS SELECT id FROM orders WHERE NULLIF(CAST(meta AS JSONB) -> 'status', 'null') IS NULL;
CREATE VIEW has_first_item AS SELECT id FROM orders WHERE NOT (JSONB_PATH_QUERY_FIRST(CAST(meta AS JSONB), 'strict $."items"[0]', '{}', TRUE)) IS NULL;
CREATE VIEW first_sku AS SELECT id FROM orders WHERE NULLIF(JSONB_PATH_QUERY_FIRST(CAST(meta AS JSONB), 'strict $."items"[0]."sku"', '{}', TRUE), 'null') = CAST('"a"' AS JSONB);
CREATE VIEW flags AS SELECT id, NULLIF(CAST(meta AS JSONB) -> 'status', 'null') = CAST('"paid"' AS JSONB) AS is_paid, NULLIF(CAST(meta AS JSONB) -> 'status', 'null') IS NULL AS open FROM orders;
-- note: became a jsonb path
-- check:
SELECT 'paid', id FROM paid UNION ALL SELECT 'unpaid', id FROM unpaid UNION ALL SELECT 'staff', id FROM staff UNION ALL SELECT 'not_staff', id FROM not_staff UNION ALL SELECT 'five', id FROM five UNION ALL SELECT 'no_status', id FROM no_status UNION ALL SELECT 'has_first_item', id FROM has_first_item UNION ALL SELECT 'first_sku', id FROM first_sku ORDER BY 1, 2

-- case: json_extract_flags_keep_null
-- setup:
CREATE TABLE orders (id INTEGER PRIMARY KEY, meta TEXT NOT NULL);
INSERT INTO orders (id, meta) VALUES (1, '{"status":"paid"}'), (2, '{"status":"x"}'), (3, '{"status":null}'), (4, '{}'), (5, '{"status":1}'), (6, '{"status":"paid","n":1}');
-- sqlite:
CREATE VIEW flags AS SELECT id, CASE WHEN json_extract(meta, '$.status') = 'paid' THEN 'y' WHEN NOT json_extract(meta, '$.status') = 'paid' THEN 'n' ELSE '?' END AS is_paid, CASE WHEN meta ->> 'status' IS NULL THEN 'open' ELSE 'set' END AS open FROM orders;
-- postgres:
CREATE VIEW flags AS SELECT id, CASE WHEN NULLIF(CAST(meta AS JSONB) -> 'status', 'null') = CAST('"paid"' AS JSONB) THEN 'y' WHEN NOT NULLIF(CAST(meta AS JSONB) -> 'status', 'null') = CAST('"paid"' AS JSONB) THEN 'n' ELSE '?' END AS is_paid, CASE WHEN NULLIF(CAST(meta AS JSONB) -> 'status', 'null') IS NULL THEN 'open' ELSE 'set' END AS open FROM orders;
-- check:
SELECT id, is_paid, open FROM flags ORDER BY id

-- case: json_extract_index_and_partial_index
-- setup:
CREATE TABLE events (id INTEGER PRIMARY KEY, raw TEXT NOT NULL);
-- sqlite:
CREATE INDEX ix_events_kind ON events (json_extract(raw, '$.kind'), id);
CREATE INDEX ix_events_live ON events (id) WHERE raw ->> '$.deleted_at' IS NULL;
CREATE INDEX ix_events_clicks ON events (json_extract(raw, '$.tags[0]')) WHERE json_extract(raw, '$.kind') = 'click';
INSERT INTO events (raw) VALUES ('{"kind":"click"}'), ('{"kind":"view","deleted_at":"2025-01-01"}');
-- postgres:
CREATE INDEX ix_events_kind ON events(NULLIF(CAST(raw AS JSONB) -> 'kind', 'null'), id);
CREATE INDEX ix_events_live ON events(id) WHERE NULLIF(CAST(raw AS JSONB) -> 'deleted_at', 'null') IS NULL;
CREATE INDEX ix_events_clicks ON events(NULLIF(JSONB_PATH_QUERY_FIRST(CAST(raw AS JSONB), 'strict $."tags"[0]', '{}', TRUE), 'null')) WHERE NULLIF(CAST(raw AS JSONB) -> 'kind', 'null') = CAST('"click"' AS JSONB);
INSERT INTO events (raw) VALUES ('{"kind":"click"}'), ('{"kind":"view","deleted_at":"2025-01-01"}');
-- check:
SELECT id, raw FROM events ORDER BY id

-- case: json_extract_unique_index_withheld
-- setup:
CREATE TABLE events (id INTEGER PRIMARY KEY, raw TEXT NOT NULL);
-- sqlite:
CREATE UNIQUE INDEX ux_events_ref ON events (json_extract(raw, '$.ref'));
-- finding: json_extract

-- case: json_extract_generated_column_withheld
-- sqlite:
CREATE TABLE sensor_readings (event_id INTEGER PRIMARY KEY, raw_data TEXT, location TEXT GENERATED ALWAYS AS (json_extract(raw_data, '$.measurement.location')) STORED);
-- finding: json_extract

-- case: json_extract_selected_value_withheld
-- setup:
CREATE TABLE events (id INTEGER PRIMARY KEY, raw TEXT NOT NULL);
-- sqlite:
CREATE VIEW amounts AS SELECT id, raw ->> '$.amount' AS amount FROM events;
-- finding: json_extract

-- case: json_extract_compared_with_a_number_withheld
-- setup:
CREATE TABLE events (id INTEGER PRIMARY KEY, raw TEXT NOT NULL);
-- sqlite:
SELECT id FROM events WHERE json_extract(raw, '$.n') > 5;
-- finding: json_extract

-- case: json_extract_path_from_the_end_withheld
-- setup:
CREATE TABLE events (id INTEGER PRIMARY KEY, raw TEXT NOT NULL);
-- sqlite:
SELECT id FROM events WHERE json_extract(raw, '$.tags[#-1]') = 'x';
-- finding: path

-- case: json_builders_withheld_not_passed_through
-- setup:
CREATE TABLE events (id INTEGER PRIMARY KEY, kind TEXT, raw TEXT);
-- sqlite:
CREATE VIEW per_kind AS SELECT kind, json_group_array(id) AS ids FROM events GROUP BY kind;
CREATE VIEW as_json AS SELECT json_object('id', id, 'kind', kind) AS j FROM events;
UPDATE events SET raw = json_set(raw, '$.seen', 1);
UPDATE events SET raw = json_remove(raw, '$.seen');
SELECT json_type(raw, '$.a') FROM events;
SELECT format('%05d', id) FROM events;
SELECT hex(kind) FROM events;
-- finding: json_group_array()
-- finding: json_object()
-- finding: json_set()
-- finding: json_remove()
-- finding: json_type()
-- finding: format()
-- finding: hex()

-- case: json_each_membership_of_a_string
-- setup:
CREATE TABLE users (id INTEGER PRIMARY KEY, roles TEXT);
INSERT INTO users VALUES (1, '["admin","guru"]'), (2, '["guru",null]'), (3, NULL), (4, '"admin"'), (5, '{"main":"admin"}'), (6, '[1,true,"1"]'), (7, '[]'), (8, 'null'), (9, '[["admin"]]'), (10, '{"admin":1}');
-- sqlite:
CREATE VIEW admins AS SELECT id FROM users WHERE 'admin' IN (SELECT value FROM json_each(users.roles));
CREATE VIEW not_guru AS SELECT id FROM users WHERE 'guru' NOT IN (SELECT value FROM json_each(roles));
CREATE VIEW ones AS SELECT id, '1' IN (SELECT value FROM json_each(roles)) AS has_one FROM users;
-- postgres:
CREATE VIEW admins AS SELECT id FROM users WHERE CAST('"admin"' AS JSONB) IN (SELECT NULLIF(v, 'null') FROM JSONB_PATH_QUERY(CAST(users.roles AS JSONB), 'strict $[*]', '{}', TRUE) AS v UNION ALL SELECT NULLIF(v, 'null') FROM JSONB_PATH_QUERY(CAST(users.roles AS JSONB), 'strict $.*', '{}', TRUE) AS v UNION ALL SELECT NULLIF(CAST(users.roles AS JSONB), 'null') WHERE NOT JSONB_TYPEOF(CAST(users.roles AS JSONB)) IN ('array', 'object'));
CREATE VIEW not_guru AS SELECT id FROM users WHERE NOT CAST('"guru"' AS JSONB) IN (SELECT NULLIF(v, 'null') FROM JSONB_PATH_QUERY(CAST(roles AS JSONB), 'strict $[*]', '{}', TRUE) AS v UNION ALL SELECT NULLIF(v, 'null') FROM JSONB_PATH_QUERY(CAST(roles AS JSONB), 'strict $.*', '{}', TRUE) AS v UNION ALL SELECT NULLIF(CAST(roles AS JSONB), 'null') WHERE NOT JSONB_TYPEOF(CAST(roles AS JSONB)) IN ('array', 'object'));
CREATE VIEW ones AS SELECT id, CAST('"1"' AS JSONB) IN (SELECT NULLIF(v, 'null') FROM JSONB_PATH_QUERY(CAST(roles AS JSONB), 'strict $[*]', '{}', TRUE) AS v UNION ALL SELECT NULLIF(v, 'null') FROM JSONB_PATH_QUERY(CAST(roles AS JSONB), 'strict $.*', '{}', TRUE) AS v UNION ALL SELECT NULLIF(CAST(roles AS JSONB), 'null') WHERE NOT JSONB_TYPEOF(CAST(roles AS JSONB)) IN ('array', 'object')) AS has_one FROM users;
-- note: became a jsonb path
-- check:
SELECT 'admins', id, -1 FROM admins UNION ALL SELECT 'not_guru', id, -1 FROM not_guru UNION ALL SELECT 'ones', id, CASE WHEN has_one THEN 1 WHEN NOT has_one THEN 0 END FROM ones ORDER BY 1, 2
