-- Migration number: 0003 	 2024-08-05T06:44:50.013Z

-- Schools whose feeds we read and which read ours.
CREATE TABLE IF NOT EXISTS partner_schools (
  host TEXT UNIQUE NOT NULL
);
