-- Description: Roll back 20251201_090000_create_analytics_events.sql
-- Author: MA Malnu Kananga Development Team

DROP TABLE IF EXISTS analytics_events;
