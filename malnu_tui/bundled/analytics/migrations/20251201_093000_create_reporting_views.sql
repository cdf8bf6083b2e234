-- Description: Reporting views: daily active users and hourly endpoint latency
-- Author: MA Malnu Kananga Development Team
-- Dependencies: 20251201_090000_create_analytics_events.sql, 20251201_092000_create_performance_metrics.sql

CREATE OR REPLACE VIEW daily_active_users AS
SELECT date_trunc('day', "timestamp") AS day,
       count(DISTINCT user_id) AS active_users,
       count(*) AS events
FROM analytics_events
WHERE user_id IS NOT NULL
GROUP BY 1;

CREATE OR REPLACE VIEW endpoint_latency_hourly AS
SELECT endpoint,
       date_trunc('hour', "timestamp") AS hour,
       count(*) AS requests,
       percentile_cont(0.95) WITHIN GROUP (ORDER BY response_time) AS p95_ms,
       count(*) FILTER (WHERE status_code >= 500) AS server_errors
FROM performance_metrics
GROUP BY endpoint, 2;
