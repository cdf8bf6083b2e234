-- Description: Roll back 20251201_093000_create_reporting_views.sql
-- Author: MA Malnu Kananga Development Team

DROP VIEW IF EXISTS endpoint_latency_hourly;
DROP VIEW IF EXISTS daily_active_users;
