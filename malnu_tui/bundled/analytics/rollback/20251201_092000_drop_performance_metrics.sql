-- Description: Roll back 20251201_092000_create_performance_metrics.sql
-- Author: MA Malnu Kananga Development Team

DROP TABLE IF EXISTS performance_metrics;
