-- The Events page and GET /api/v1/events filtered by instance walk this index, newest first,
-- instead of every instance's events.
CREATE INDEX events_by_instance ON events (instance, id);
